/* Configuration: the libconfig file read at start-up and on SIGHUP, checked strictly (unknown
 * options are errors, each reported with its line). Not for run-time state (see wb_server). */
#ifndef WB_CONFIG_H
#define WB_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { WB_LISTEN_C2S = 0, WB_LISTEN_S2S, WB_LISTEN_COMPONENT } wb_listen_kind;
typedef enum { WB_TLS_STARTTLS = 0, WB_TLS_DIRECT } wb_tls_mode;

typedef struct wb_conf_listener {
    wb_listen_kind kind;
    wb_tls_mode tls;
    char *address; /* "0.0.0.0", "::", "127.0.0.1"... */
    int port;
} wb_conf_listener;

typedef struct wb_conf_host {
    char *domain; /* prepared with Nameprep */
    char *cert;   /* PEM certificate chain file */
    char *key;    /* PEM private key file */
} wb_conf_host;

/* An external component (XEP-0114): its domain and the shared secret of its handshake. */
typedef struct wb_conf_component {
    char *domain; /* prepared with Nameprep */
    char *secret;
} wb_conf_component;

typedef struct wb_config {
    /* server */
    int workers;          /* 0 in the file = number of online CPUs; resolved here */
    char *log_level;      /* debug|info|warn|error */
    char *key_file;       /* master key file (32 bytes, mode 0600) */
    char *control_socket; /* Unix socket for warblerctl (default warblerd-ctl.sock by the file;
                             s2s.control_socket is a deprecated alias) */
    /* storage */
    char *dsn;          /* libpq connection string; resolved from embedded_dir when empty */
    char *embedded_dir; /* embedded cluster directory (socket in EMBEDDED_DIR/run) */
    char *database;     /* database name used with the embedded cluster */
    int db_wait;        /* seconds to wait for PostgreSQL at start-up */
    /* hosts and listeners */
    wb_conf_host *hosts;
    size_t n_hosts;
    wb_conf_listener *listeners;
    size_t n_listeners;
    /* c2s */
    bool require_starttls;
    bool hide_os;      /* XEP-0092: do not reveal the OS */
    bool hide_version; /* XEP-0092: do not reveal the version either */
    /* limits */
    size_t max_stanza_size;
    unsigned max_depth;
    unsigned max_attrs;
    int handshake_timeout; /* seconds from connect to authenticated, bound session */
    int idle_timeout;      /* seconds without any byte from an established client */
    int auth_failures;     /* failed logins allowed per address or account per window */
    int auth_window;       /* seconds */
    uint32_t scram_iterations;
    char **mechanisms; /* SASL mechanisms offered, in order; default all five:
                          SCRAM-SHA-256-PLUS SCRAM-SHA-256 SCRAM-SHA-1-PLUS SCRAM-SHA-1 PLAIN */
    size_t n_mechanisms;
    size_t max_resources; /* resources per account */
    /* register: XEP-0077 in-band registration */
    bool register_enabled;     /* off by default */
    bool register_invite_only; /* a valid invite token is required (default) */
    int register_per_address;  /* successful registrations per client address per window */
    int register_window;       /* seconds */
    /* retention: disappearing messages (archive and offline queue) */
    int64_t retention_default;    /* seconds messages are kept unless an account says; 0: forever */
    int retention_sweep_interval; /* seconds between two sweeps */
    int retention_batch;          /* rows erased per table per sweep statement */
    int retention_unit_ms;        /* milliseconds per "second" of every retention and timer */
    /* s2s: federation (server/s2s/wb_s2s_conf.h), always set after a successful load */
    struct wb_s2s_conf *s2s;
    /* components: XEP-0114 external components (server/component/), jabber:component:accept */
    wb_conf_component *components;
    size_t n_components;
    /* admin: the REST admin API (server/admin/) */
    bool admin_enabled;       /* off by default */
    char *admin_listen;       /* address, default "127.0.0.1" */
    int admin_port;           /* default 5280 */
    char *admin_cert;         /* PEM certificate: HTTPS when set (with admin_key) */
    char *admin_key;          /* PEM private key */
    int admin_threads;        /* HTTP threads (and database connections) */
    int admin_token_lifetime; /* seconds a login token is valid */
    size_t admin_max_body;    /* bytes of a request body */
    int admin_login_failures; /* failed logins allowed per address per window */
    int admin_login_window;   /* seconds */
    /* sm: XEP-0198 stream management */
    int sm_resume_timeout; /* seconds a resumable session waits for its client (default 300) */
    size_t sm_max_queue;   /* unacknowledged stanzas kept per session (default 500) */
    int sm_ack_every;      /* stanzas sent before the server asks for an ack (default 5) */
} wb_config;

/* Reads and checks the file. On failure returns NULL and prints every problem found, one per
 * line as "FILE:LINE: message", to stderr. */
wb_config *wb_config_load(const char *path);
/* An empty configuration (every field zero, with room for the per-feature sections) for tests
 * and tools that fill one in by hand; wb_config_free frees it. NULL when memory is short. */
wb_config *wb_config_new(void);
void wb_config_free(wb_config *c);
const wb_conf_host *wb_config_host(const wb_config *c, const char *domain);

#endif
