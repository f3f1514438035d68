// Package ldap is provisiond's LDAP connector (github.com/go-ldap/ldap/v3): a target
// (connectors.Target, connectors.Lister, connectors.Enabler) and, through Client.Source, a
// source (connectors.Source) for OpenLDAP, 389 Directory Server, Active Directory and other
// LDAPv3 directories. docs/ldap.md is the operator's guide.
//
// # Connections
//
// ldap:// (optionally upgraded with StartTLS) or ldaps://, a CA file or the system roots,
// a simple bind with a DN and password (anonymous without a DN). Operations share a pool of
// at most MaxConnections bound connections; a pooled connection the server closed while it
// was idle is replaced and the operation sent again once. Every request is bounded by
// Timeout, a cancelled context closes the connection of the request in flight, and
// MaxRequestsPerSecond caps the request rate. Every LDAP operation is recorded with
// connectors.StartCall as method (connect, startTLS, bind, search, add, modify, modifyDN,
// delete) and target (the DN; for searches "base?scope?filter") with the result code; the
// password never appears in a call, an error or a log.
//
// # Target
//
// Objects are addressed by DN: the target ID is the DN. Create renders the type's DN
// template ("uid={uid},ou=People,dc=example,dc=org") with the mapped attribute values,
// escaped as RFC 4514 attribute values (a value cannot add an RDN or change the parent), and
// adds the entry with the type's object classes. Find is a paged (RFC 2696) subtree search
// for (&<type filter>(<attr>=<value>)) with the value escaped per RFC 4515, so a value
// cannot change the filter. Update sends only the engine's modifications as LDAP replace
// operations (a remove is a replace with no values, which does not fail on an absent
// attribute); when one changes an attribute of the DN template the entry is renamed or moved
// first (ModifyDN, old RDN value deleted) and the connector remembers the new DN (in
// memory, and in a journal in StateDir when set), since the engine keeps the old one as the
// target ID. Disable sets an attribute to a value (default OpenLDAP
// ppolicy's pwdAccountLockedTime=000001010000Z), sets Active Directory's userAccountControl
// bit 0x2 (read-modify-write: delete of the old value plus add of the new one in one
// Modify, so a concurrent change fails and is read again), or deletes. AddMembers and
// RemoveMembers change member or uniqueMember; "already a member" and "not a member" are not
// errors; a groupOfNames that would be empty keeps a placeholder member
// (cn=empty-membership-placeholder by default).
//
// # Source
//
// Full reads are paged subtree searches of each type's base DN with its filter. The source
// ID is entryUUID by default (objectGUID formatted as a GUID for Active Directory, or the
// DN). Group members and reference attributes (manager) hold DNs; reads return them as the
// source IDs of the users they name, which the engine resolves. Incremental reads use RFC
// 4533 syncrepl refreshOnly with the cookie as watermark when the server supports it (deletes
// included), else TimestampAttribute>=watermark (no deletes: those reads are not Full).
//
// # Errors
//
// Every error is a *connectors.Error (or the caller's context error). Status is the LDAP
// result code, Detail the server's diagnostic message, Request "<operation> <DN>".
//
//	LDAP result                                         Class          Code
//	--------------------------------------------------  -------------  ----------------------
//	3 timeLimitExceeded, 85 timeout, request timeout    retryable      Timeout
//	51 busy                                             retryable      ServerBusy
//	52 unavailable                                      retryable      ServiceUnavailable
//	11 adminLimitExceeded                               retryable      AdminLimitExceeded
//	1 operationsError, 54 loopDetect, 80 other          retryable      InternalServerError
//	49 invalidCredentials, 48 inappropriateAuth,
//	  7 authMethodNotSupported, 8 strongAuthRequired,
//	  13 confidentialityRequired                        unauthorized   Unauthorized
//	50 insufficientAccessRights, 123 authzDenied        forbidden      InsufficientRights
//	32 noSuchObject                                     notFound       InvalidAnchor
//	68 entryAlreadyExists                               conflict       EntryConflict
//	19 constraintViolation, 20 attributeOrValueExists,
//	  16 noSuchAttribute                                invalid        ConstraintViolation
//	65 objectClassViolation, 69 objectClassModsProhib.,
//	  67 notAllowedOnRDN                                invalid        ObjectClassViolation
//	17 undefinedAttributeType                           invalid        SchemaAttributeNotFound
//	21 invalidAttributeSyntax, 18 inappropriateMatching invalid        InvalidValue
//	34 invalidDNSyntax, 64 namingViolation              invalid        InvalidDN
//	53 unwillingToPerform                               invalid        UnwillingToPerform
//	66 notAllowedOnNonLeaf                              invalid        NotAllowedOnNonLeaf
//	10 referral                                         invalid        Referral
//	4096 e-syncRefreshRequired (source: full read)      retryable      SyncRefreshRequired
//	refused, DNS, TLS handshake/verify, lost conn.      connection     ConnectionFailed
//	other                                               invalid        LdapProtocolError
//
// Deleting a missing entry, adding a member that is there and removing one that is not
// succeed.
package ldap
