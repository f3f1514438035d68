// Package scim is provisiond's SCIM 2.0 client (RFC 7643, RFC 7644, RFC 9865 cursors): a
// target connector (connectors.Target, connectors.Lister) and, through Client.Source, a
// source connector (connectors.Source, connectors.Estimator).
//
// # Attributes
//
// connectors.Attributes names are SCIM attribute paths: "userName", "active", "name.givenName",
// `emails[type eq "work"].value`, "externalId", and fully qualified extension paths such as
// "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:department". Create builds the
// nested resource from them (with the extension URNs in schemas; the enterprise manager, a
// target id, is sent as {"value": id}); Get, Find and List flatten resources back to the same
// names (plus the raw multi-valued lists, and group members as []string of ids).
//
// # Server capabilities
//
// Discover reads /ServiceProviderConfig, /ResourceTypes and /Schemas once (lazily) and adapts:
// PATCH or PUT of the re-read resource; If-Match and 412 handling only when etag is
// supported; page size bounded by filter.maxResults and pagination.maxPageSize; RFC 9865
// cursor pagination when pagination.cursor is true; member batches bounded by
// bulk.maxOperations and bulk.maxPayloadSize; resource endpoints from /ResourceTypes.
//
// # Throttling and retries
//
// Each client has an adaptive (AIMD) rate limiter: it starts at MaxRequestsPerSecond, halves
// on 429/503 (not below MinRequestsPerSecond, once per burst), pauses every request until a
// Retry-After has passed, and grows back by a tenth of the maximum after each window of
// successes. Throttled and failed requests are retried inside an operation up to
// MaxRetries times; a POST is never repeated blindly: after a timeout, a lost connection or
// a 5xx, Create re-matches and treats a found object as created.
//
// # Errors
//
// Every error is a *connectors.Error (or the caller's context error). The table says how an
// HTTP answer (or its absence) is classified. Codes are
// Entra's provisioning error codes where one fits; the others are named after the SCIM
// scimType. Detail is "<scimType>: <detail>" from the SCIM error body; Request is
// "METHOD /base/path/Resource/id" (never a query string or a header); Response is the first
// 512 bytes of the body. Secrets are removed from every field.
//
//	HTTP  scimType / condition              Class          Code
//	----  --------------------------------  -------------  ----------------------------------------------------------
//	400   uniqueness                        conflict       EntryConflict
//	400   invalidFilter                     invalid        InvalidFilter
//	400   tooMany                           invalid        SystemForCrossDomainIdentityManagementMultipleEntriesInResponse
//	400   mutability                        invalid        MutabilityViolation
//	400   invalidValue, detail says         invalid        MandatoryFieldsMissing
//	      required/missing/mandatory (not RFC 7644's generic invalidValue sentence)
//	400   invalidValue                      invalid        InvalidValue
//	400   invalidPath                       invalid        SchemaAttributeNotFound
//	400   noTarget                          invalid        NoTarget
//	400   invalidSyntax                     invalid        InvalidSyntax
//	400   invalidVers                       invalid        SystemForCrossDomainIdentityManagementServiceIncompatible
//	400   invalidCursor, invalidCount       invalid        InvalidCursor
//	400   expiredCursor (RFC 9865)          retryable      InvalidCursor
//	400   other or none                     invalid        BadRequest
//	401                                     unauthorized   Unauthorized
//	403   (Test: unauthorized)              forbidden      InsufficientRights
//	404   (Test: invalid, ...Incompatible)  notFound       InvalidAnchor
//	405                                     invalid        MethodNotAllowed
//	409                                     conflict       EntryConflict
//	412                                     precondition   PreconditionFailed
//	413                                     invalid        PayloadTooLarge
//	429                                     throttled      TooManyRequests (RetryAfter from Retry-After)
//	503   with Retry-After                  throttled      TooManyRequests (RetryAfter from Retry-After)
//	503   without Retry-After               retryable      InternalServerError (the limiter still slows down)
//	500, 502, 504, other 5xx                retryable      InternalServerError
//	501                                     invalid        NotImplemented
//	other 4xx, 3xx                          invalid        WebExceptionProtocolError
//	2xx with an unparsable SCIM body        invalid        SystemForCrossDomainIdentityManagementServiceIncompatible
//	timeout (per-request Timeout)           retryable      Timeout
//	refused, DNS, TLS handshake/verify      connection     ConnectionFailed
//	reset, EOF mid-response                 retryable      ConnectionReset
//	OAuth token endpoint 400/401/403        unauthorized   Unauthorized
//
// Choices: tooMany maps to ...MultipleEntriesInResponse because the only filters this client
// sends are eq matches, so "too many" means the match is ambiguous; mutability maps to
// MutabilityViolation, not SchemaPropertyCanOnlyAcceptValue, which Entra uses for a
// multi-valued/single-valued mismatch; RFC 9865's expiredCursor is retryable (the listing can
// start over) while invalidCursor is not.
//
// Retry-After is parsed as delay-seconds or as an HTTP-date. Test maps 401 and 403 to
// unauthorized and 404 to invalid/SystemForCrossDomainIdentityManagementServiceIncompatible.
// Secrets (token, password and its basic credential, client secret, OAuth access tokens)
// never appear in an error: responses that echo them are redacted.
package scim
