/* Names of the error conditions declared in wb_xmpp_errors.h. */
#include "wb_xmpp_errors.h"

static const char *const stream_names[WB_SE_COUNT] = {
    "undefined-condition",
    "bad-format",
    "bad-namespace-prefix",
    "conflict",
    "connection-timeout",
    "host-unknown",
    "improper-addressing",
    "internal-server-error",
    "invalid-from",
    "invalid-namespace",
    "invalid-xml",
    "not-authorized",
    "not-well-formed",
    "policy-violation",
    "reset",
    "resource-constraint",
    "restricted-xml",
    "system-shutdown",
    "undefined-condition",
    "unsupported-encoding",
    "unsupported-feature",
    "unsupported-stanza-type",
    "unsupported-version",
};

static const char *const sasl_names[WB_SASL_COUNT] = {
    "success",
    "aborted",
    "account-disabled",
    "encryption-required",
    "incorrect-encoding",
    "invalid-authzid",
    "invalid-mechanism",
    "malformed-request",
    "mechanism-too-weak",
    "not-authorized",
    "temporary-auth-failure",
};

static const struct {
    const char *name;
    const char *type;
} stanza_errs[WB_STE_COUNT] = {
    {"bad-request", "modify"},
    {"conflict", "cancel"},
    {"feature-not-implemented", "cancel"},
    {"forbidden", "auth"},
    {"internal-server-error", "cancel"},
    {"item-not-found", "cancel"},
    {"jid-malformed", "modify"},
    {"not-acceptable", "modify"},
    {"not-allowed", "cancel"},
    {"not-authorized", "auth"},
    {"policy-violation", "modify"},
    {"recipient-unavailable", "wait"},
    {"remote-server-not-found", "cancel"},
    {"resource-constraint", "wait"},
    {"service-unavailable", "cancel"},
    {"undefined-condition", "cancel"},
    {"unexpected-request", "wait"},
};

const char *wb_stream_err_name(wb_stream_err e)
{
    return (e > 0 && e < WB_SE_COUNT) ? stream_names[e] : "undefined-condition";
}

const char *wb_sasl_err_name(wb_sasl_err e)
{
    return (e > 0 && e < WB_SASL_COUNT) ? sasl_names[e] : "not-authorized";
}

const char *wb_stanza_err_name(wb_stanza_err e)
{
    return (e >= 0 && e < WB_STE_COUNT) ? stanza_errs[e].name : "undefined-condition";
}

const char *wb_stanza_err_type(wb_stanza_err e)
{
    return (e >= 0 && e < WB_STE_COUNT) ? stanza_errs[e].type : "cancel";
}
