/*
 * loyalty.h -- the public C ABI of libloyalty.so, the points / e-wallet loyalty plugin.
 *
 * This header is the reference documentation of the ABI (contract v1, section 1).
 * It is C99-compatible and is the only header the project installs.
 *
 * Lifecycle
 *   A POS loads libloyalty.so (dlopen), checks loyalty_abi_version() against
 *   LOYALTY_ABI_VERSION, opens one plugin handle per ledger with loyalty_open(),
 *   sends JSON requests with loyalty_handle() and finally calls loyalty_close().
 *
 * Ownership
 *   Every string the plugin returns (*error_json, *response_json) is allocated by the
 *   plugin and must be released with loyalty_free(). Passing NULL to loyalty_free() or
 *   loyalty_close() is a no-op.
 *
 * Thread safety
 *   loyalty_abi_version() may be called at any time. loyalty_handle() may be called from
 *   many threads at once on the same handle. loyalty_close() waits for the calls already
 *   inside loyalty_handle() on that handle (they finish normally; one that gets in as the
 *   close begins is answered LOYALTY_ERR_UNAVAILABLE), but no call may start after
 *   loyalty_close() has returned: the handle is freed. The POS closes after its terminals
 *   are done.
 *
 * Failure behaviour
 *   No function lets a C++ exception escape, aborts on bad input, writes to stdout or
 *   stderr, or waits on the network. On failure the returned code is non-zero and the
 *   JSON body says the same thing in words:
 *     {"ok":false,"error":{"code":"invalid_event","field":"lines[0].amount",
 *                          "message":"amount must not be negative"}}
 *
 * Requests and responses are UTF-8 JSON documents described in docs/contract.md.
 */
#ifndef LOYALTY_LOYALTY_H_
#define LOYALTY_LOYALTY_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32)
#define LOYALTY_API __declspec(dllexport)
#else
#define LOYALTY_API __attribute__((visibility("default")))
#endif

/* The ABI version this header describes. Bumped only on an incompatible change; new
 * abilities arrive as new request types and fields (see the "plugin.info" request). */
#define LOYALTY_ABI_VERSION 1

/* Return codes. Numbers are explicit and never reused; each maps 1:1 to the JSON
 * "error.code" word given beside it. */
#define LOYALTY_OK 0
#define LOYALTY_ERR_INVALID_JSON 1        /* "invalid_json": not UTF-8 JSON, a NUL byte, ... */
#define LOYALTY_ERR_INVALID_EVENT 2       /* "invalid_event": JSON, but a field is wrong */
#define LOYALTY_ERR_UNKNOWN_TYPE 3        /* "unknown_type": "type" names no request */
#define LOYALTY_ERR_CONFLICT 4            /* "conflict": same id, different body */
#define LOYALTY_ERR_INSUFFICIENT_POINTS 5 /* "insufficient_points" */
#define LOYALTY_ERR_NOT_FOUND 6           /* "not_found": customer or hold unknown */
#define LOYALTY_ERR_UNAVAILABLE 7         /* "unavailable": may succeed later (busy, disk full) */
#define LOYALTY_ERR_INTERNAL 8            /* "internal": a defect on our side; it is logged */
#define LOYALTY_ERR_INVALID_CONFIG 9      /* "invalid_config": loyalty_open's file is wrong */
#define LOYALTY_ERR_INVALID_ARGUMENT 10   /* "invalid_argument": a NULL pointer passed */
#define LOYALTY_ERR_FORBIDDEN 11          /* "forbidden": loyaltyd's token and admin checks;
                                             loyalty_handle does not return it */

typedef struct loyalty_plugin loyalty_plugin; /* opaque */

/* Returns LOYALTY_ABI_VERSION of the loaded library. */
LOYALTY_API uint32_t loyalty_abi_version(void);

/* Opens the plugin with the TOML configuration at config_path (relative paths inside it
 * are relative to the file), opening or creating its SQLite ledger.
 * On success returns 0, sets *out to a new handle and, if error_json is not NULL, sets
 * *error_json to NULL. On failure returns a code above, sets *out to NULL and, if
 * error_json is not NULL, sets *error_json to an error body to loyalty_free(). */
LOYALTY_API int loyalty_open(const char *config_path, loyalty_plugin **out, char **error_json);

/* Handles one request of len bytes (it need not be NUL-terminated; a NUL byte inside is
 * invalid JSON). Always sets *response_json to a body to loyalty_free(), also on error,
 * except when memory runs out (then it is NULL and the code is LOYALTY_ERR_INTERNAL).
 * Returns 0 when the response says "ok": true, else the error's code. */
LOYALTY_API int loyalty_handle(loyalty_plugin *p, const char *request_json, size_t len,
                               char **response_json);

/* Frees a string returned by the plugin. NULL is a no-op. */
LOYALTY_API void loyalty_free(char *s);

/* Finishes pending work, joins the plugin's threads and closes the ledger. NULL is a no-op. */
LOYALTY_API void loyalty_close(loyalty_plugin *p);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* LOYALTY_LOYALTY_H_ */
