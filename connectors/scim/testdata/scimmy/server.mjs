// An independent SCIM 2.0 peer for provisiond's SCIM client conformance suite, built on
// SCIMMY (https://scimmyjs.github.io) and its Express routers. In-memory store, Users (with
// the enterprise extension) and Groups, 409 "uniqueness" on a duplicate userName or group
// displayName, filters through SCIMMY's own filter engine, PATCH via SCIMMY's PatchOp.
//
//   PORT=8880 TOKEN=secret node server.mjs
//
// Listens on 127.0.0.1 only. Prints "listening <port>" once ready.
import {randomUUID} from "node:crypto";
import express from "express";
import SCIMMY from "scimmy";
import SCIMMYRouters from "scimmy-routers";

const port = Number.parseInt(process.env.PORT ?? "8880", 10);
const token = process.env.TOKEN ?? "";
if (!token) {
    console.error("TOKEN must be set");
    process.exit(2);
}

SCIMMY.Config.set({patch: true, filter: 200, sort: true, bulk: {supported: false}, etag: false});

// One in-memory store per resource type; ids are UUIDs assigned here.
const stores = {User: new Map(), Group: new Map()};
// Attribute that must be unique (case-insensitively, per RFC 7643 caseExact:false) per type.
const uniqueAttr = {User: "userName", Group: "displayName"};

const plain = (v) => JSON.parse(JSON.stringify(v));

function ingressFor(type) {
    return (resource, instance) => {
        const store = stores[type];
        const data = plain(instance);
        delete data.schemas;
        delete data.meta;
        const key = String(data[uniqueAttr[type]] ?? "").toLowerCase();
        for (const [id, existing] of store) {
            if (id !== resource.id && String(existing[uniqueAttr[type]] ?? "").toLowerCase() === key) {
                throw new SCIMMY.Types.Error(409, "uniqueness", `${uniqueAttr[type]} '${data[uniqueAttr[type]]}' is already in use`);
            }
        }
        const now = new Date().toISOString();
        if (resource.id) {
            const existing = store.get(resource.id);
            if (!existing) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
            const updated = {...data, id: resource.id, meta: {created: existing.meta.created, lastModified: now}};
            store.set(resource.id, updated);
            return updated;
        }
        const id = randomUUID();
        const created = {...data, id, meta: {created: now, lastModified: now}};
        store.set(id, created);
        return created;
    };
}

function egressFor(type) {
    return (resource) => {
        const store = stores[type];
        if (resource.id) {
            const found = store.get(resource.id);
            if (!found) throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
            return found;
        }
        const all = [...store.values()];
        return resource.filter ? resource.filter.match(all) : all;
    };
}

function degressFor(type) {
    return (resource) => {
        if (!stores[type].delete(resource.id)) {
            throw new SCIMMY.Types.Error(404, null, `Resource ${resource.id} not found`);
        }
    };
}

SCIMMY.Resources.declare(SCIMMY.Resources.User.extend(SCIMMY.Schemas.EnterpriseUser, false))
    .ingress(ingressFor("User")).egress(egressFor("User")).degress(degressFor("User"));
SCIMMY.Resources.declare(SCIMMY.Resources.Group)
    .ingress(ingressFor("Group")).egress(egressFor("Group")).degress(degressFor("Group"));

const app = express();
app.use("/scim/v2", new SCIMMYRouters({
    type: "bearer",
    docUri: "https://example.invalid/scim-auth",
    handler: (request) => {
        if (request.header("Authorization") !== `Bearer ${token}`) {
            throw new Error("Authorization failed");
        }
        return "provisiond";
    },
}));

const server = app.listen(port, "127.0.0.1", () => {
    console.log(`listening ${server.address().port}`);
});
for (const signal of ["SIGINT", "SIGTERM"]) {
    process.on(signal, () => server.close(() => process.exit(0)));
}
