/* warblerd: start-up (configuration, the vault's key file, TLS, database migrations), the listeners
 * and signal handling on the main thread, and an orderly shutdown. The work happens in the workers.
 */
#include <getopt.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <sodium.h>

#include "wb_admin.h"
#include "upload/wb_upload.h"
#include "wb_audit.h"
#include "wb_audit_conf.h"
#include "wb_config.h"
#include "wb_control.h"
#include "wb_log.h"
#include "wb_modules.h"
#include "wb_s2s.h"
#include "wb_s2s_conf.h"
#include "wb_server.h"
#include "wb_store.h"
#include "wb_vault.h"

#define WB_DEFAULT_CONFIG "var/warbler.conf"

typedef struct wb_main {
    wb_server srv;
    struct event_base *base;
    struct evconnlistener **listeners;
    size_t n_listeners;
    struct event *sig_int, *sig_term, *sig_hup;
    struct event *accept_pause; /* re-enables the listeners after accept() failed */
    wb_upload_http *upload;     /* XEP-0363 HTTP listener (server/upload/), NULL when off */
    wb_control *control;        /* the control socket for warblerctl */
    bool stopping;
} wb_main;

static void wb_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                         int salen, void *arg)
{
    (void)l;
    (void)salen;
    wb_main *m = arg;
    const wb_conf_listener *lis = NULL;
    for (size_t i = 0; i < m->n_listeners; i++)
        if (m->listeners[i] == l)
            lis = &m->srv.cfg->listeners[i];
    char peer[64] = "?";
    if (sa->sa_family == AF_INET)
        evutil_inet_ntop(AF_INET, &((struct sockaddr_in *)sa)->sin_addr, peer, sizeof(peer));
    else if (sa->sa_family == AF_INET6)
        evutil_inet_ntop(AF_INET6, &((struct sockaddr_in6 *)sa)->sin6_addr, peer, sizeof(peer));
    wb_server *srv = &m->srv;
    wb_worker *w = srv->workers[srv->next_worker++ % (unsigned)srv->n_workers];
    if (!lis || wb_worker_post_accept(w, fd, lis, peer) < 0)
        evutil_closesocket(fd);
}

static void wb_accept_resume_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    wb_main *m = arg;
    for (size_t i = 0; i < m->n_listeners && !m->stopping; i++)
        if (m->listeners[i])
            evconnlistener_enable(m->listeners[i]);
}

/* accept() failed (out of descriptors, most likely): pause a second instead of spinning. */
static void wb_accept_error_cb(struct evconnlistener *l, void *arg)
{
    (void)l;
    wb_main *m = arg;
    wb_warn("accept failed: %s; pausing new connections for a second",
            evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
    for (size_t i = 0; i < m->n_listeners; i++)
        if (m->listeners[i])
            evconnlistener_disable(m->listeners[i]);
    struct timeval tv = {1, 0};
    evtimer_add(m->accept_pause, &tv);
}

static int wb_listen(wb_main *m)
{
    const wb_config *cfg = m->srv.cfg;
    m->listeners = calloc(cfg->n_listeners, sizeof(*m->listeners));
    if (!m->listeners)
        return -1;
    m->n_listeners = cfg->n_listeners;
    m->accept_pause = evtimer_new(m->base, wb_accept_resume_cb, m);
    if (!m->accept_pause)
        return -1;
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        const wb_conf_listener *l = &cfg->listeners[i];
        if (l->kind == WB_LISTEN_S2S && !m->srv.cfg->s2s->enabled) {
            wb_warn("listener on port %d: s2s.enabled is false; not listening", l->port);
            continue;
        }
        char spec[128];
        snprintf(spec, sizeof(spec), strchr(l->address, ':') ? "[%s]:%d" : "%s:%d", l->address,
                 l->port);
        struct sockaddr_storage ss;
        int sslen = sizeof(ss);
        if (evutil_parse_sockaddr_port(spec, (struct sockaddr *)&ss, &sslen) < 0) {
            wb_error("listener %s: not an address", spec);
            return -1;
        }
        m->listeners[i] = evconnlistener_new_bind(m->base, wb_accept_cb, m,
                                                  LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 512,
                                                  (struct sockaddr *)&ss, sslen);
        if (!m->listeners[i]) {
            wb_error("cannot listen on %s: %m", spec);
            return -1;
        }
        evconnlistener_set_error_cb(m->listeners[i], wb_accept_error_cb);
        wb_info("listening on %s (%s, %s)", spec,
                l->kind == WB_LISTEN_C2S   ? "c2s"
                : l->kind == WB_LISTEN_S2S ? "s2s"
                                           : "component",
                l->kind == WB_LISTEN_COMPONENT ? "plain TCP"
                : l->tls == WB_TLS_DIRECT      ? "direct TLS"
                                               : "STARTTLS");
    }
    return 0;
}

static void wb_stop_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)what;
    wb_main *m = arg;
    if (m->stopping)
        return;
    m->stopping = true;
    wb_info("signal %d: shutting down", (int)sig);
    wb_admin_stop(m->srv.admin); /* before the workers: its requests post to them */
    m->srv.admin = NULL;
    wb_upload_http_stop(m->upload);
    m->upload = NULL;
    for (size_t i = 0; i < m->n_listeners; i++)
        if (m->listeners[i])
            evconnlistener_disable(m->listeners[i]);
    for (int i = 0; i < m->srv.n_workers; i++)
        wb_worker_post_stop(m->srv.workers[i]);
    event_base_loopexit(m->base, NULL);
}

static void wb_reload_cb(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    wb_main *m = arg;
    char err[256];
    if (wb_vault_reload(m->srv.vault, err, sizeof(err)) < 0)
        wb_error("SIGHUP: master key not reloaded, keeping the one in use: %s", err);
    else
        wb_info("SIGHUP: master key file reloaded");
    wb_tls *t = wb_tls_load(m->srv.cfg, err, sizeof(err));
    if (!t) {
        wb_error("SIGHUP: certificates not reloaded, keeping the old ones: %s", err);
        return;
    }
    pthread_mutex_lock(&m->srv.tls_lock);
    wb_tls *old = m->srv.tls;
    m->srv.tls = t;
    pthread_mutex_unlock(&m->srv.tls_lock);
    wb_tls_unref(old);
    wb_info("SIGHUP: TLS certificates reloaded");
}

static int wb_prepare_storage(const wb_config *cfg)
{
    wb_pg *pg = wb_store_sync_connect(cfg->dsn, cfg->db_wait);
    if (!pg)
        return -1;
    int rc = wb_store_migrate(pg);
    wb_store_sync_close(pg);
    return rc;
}

/* The audit writer starts before the workers (their logins are recorded) and, with its own
 * connection, stores what they queue until after they are gone. */
static int wb_start_audit(wb_main *m)
{
    const wb_audit_conf *ac = wb_config_audit(m->srv.cfg);
    char err[256];
    if (!ac->enabled)
        return 0;
    const wb_audit_config c = {.dsn = m->srv.cfg->dsn,
                               .key_file = ac->key_file,
                               .create_key = true,
                               .checkpoint_records = ac->checkpoint_records,
                               .checkpoint_seconds = ac->checkpoint_interval,
                               .retention_days = ac->retention_days,
                               .queue_max = ac->queue_size,
                               .flush_wait = ac->flush_wait};
    m->srv.audit = wb_audit_new(&c, err, sizeof(err));
    if (m->srv.audit == NULL) {
        wb_error("%s", err);
        return -1;
    }
    return wb_audit_start(m->srv.audit);
}

/* Federation's shared state (dialback secret, TLS client context) before the workers start. */
static int wb_start_s2s(wb_main *m)
{
    char err[256];
    if (wb_s2s_init(&m->srv, err, sizeof(err)) < 0) {
        wb_error("s2s: %s", err);
        return -1;
    }
    return 0;
}

static int wb_start_workers(wb_main *m)
{
    wb_server *srv = &m->srv;
    srv->workers = calloc((size_t)srv->cfg->workers, sizeof(*srv->workers));
    if (!srv->workers)
        return -1;
    for (int i = 0; i < srv->cfg->workers; i++) {
        srv->workers[i] = wb_worker_new(srv, i);
        if (!srv->workers[i])
            return -1;
        srv->n_workers = i + 1;
    }
    for (int i = 0; i < srv->n_workers; i++)
        if (wb_worker_start(srv->workers[i]) < 0)
            return -1;
    wb_info("%d workers started", srv->n_workers);
    return 0;
}

/* The admin API starts after the workers (its requests post to them) and stops before them. */
static int wb_start_admin(wb_main *m)
{
    if (!m->srv.cfg->admin_enabled)
        return 0;
    m->srv.admin = wb_admin_start(&m->srv);
    return m->srv.admin != NULL ? 0 : -1;
}

/* The upload service's HTTP listener (its module state must exist, so after the modules). */
static int wb_start_upload(wb_main *m)
{
    if (!wb_upload_of(&m->srv))
        return 0;
    m->upload = wb_upload_http_start(&m->srv); /* NULL: logged, the service stays off */
    return 0;
}

static void wb_main_free(wb_main *m)
{
    wb_admin_stop(m->srv.admin);
    m->srv.admin = NULL;
    wb_upload_http_stop(m->upload); /* before the module state it reads */
    m->upload = NULL;
    wb_control_stop(m->control); /* its commands read the directory and post to the workers */
    m->control = NULL;
    /* Join every worker before freeing any: a running worker may still post to another. */
    for (int i = 0; i < m->srv.n_workers; i++)
        wb_worker_join(m->srv.workers[i]);
    for (int i = 0; i < m->srv.n_workers; i++)
        wb_worker_close_store(m->srv.workers[i]);
    for (int i = 0; i < m->srv.n_workers; i++)
        wb_worker_free(m->srv.workers[i]);
    wb_modules_shutdown(&m->srv);
    wb_s2s_free(&m->srv);
    free(m->srv.workers);
    for (size_t i = 0; i < m->n_listeners; i++)
        if (m->listeners[i])
            evconnlistener_free(m->listeners[i]);
    free(m->listeners);
    if (m->sig_int)
        event_free(m->sig_int);
    if (m->sig_term)
        event_free(m->sig_term);
    if (m->sig_hup)
        event_free(m->sig_hup);
    if (m->accept_pause)
        event_free(m->accept_pause);
    if (m->base)
        event_base_free(m->base);
    wb_directory_free(m->srv.dir);
    wb_ratelimit_free(m->srv.auth_limit);
    if (m->srv.tls)
        wb_tls_unref(m->srv.tls);
    pthread_mutex_destroy(&m->srv.tls_lock);
    wb_audit_free(m->srv.audit); /* last: stores what every other part recorded */
    wb_vault_free(m->srv.vault);
    wb_config_free(m->srv.cfg);
}

static int wb_run(wb_main *m)
{
    m->srv.started = time(NULL);
    m->base = event_base_new();
    m->srv.dir = wb_directory_new();
    m->srv.auth_limit = wb_ratelimit_new(m->srv.cfg->auth_failures, m->srv.cfg->auth_window);
    if (!m->base || !m->srv.dir || !m->srv.auth_limit)
        return -1;
    m->sig_int = evsignal_new(m->base, SIGINT, wb_stop_cb, m);
    m->sig_term = evsignal_new(m->base, SIGTERM, wb_stop_cb, m);
    m->sig_hup = evsignal_new(m->base, SIGHUP, wb_reload_cb, m);
    if (!m->sig_int || !m->sig_term || !m->sig_hup || evsignal_add(m->sig_int, NULL) < 0 ||
        evsignal_add(m->sig_term, NULL) < 0 || evsignal_add(m->sig_hup, NULL) < 0)
        return -1;
    if (wb_prepare_storage(m->srv.cfg) < 0 || wb_start_audit(m) < 0 ||
        wb_modules_init(&m->srv) < 0 || wb_start_s2s(m) < 0 || wb_start_workers(m) < 0 ||
        wb_start_admin(m) < 0 || wb_start_upload(m) < 0 || wb_listen(m) < 0 ||
        (m->control = wb_control_start(&m->srv, m->base, m->srv.cfg->control_socket)) == NULL) {
        wb_stop_cb(0, 0, m);
        return -1;
    }
    wb_info("warblerd ready");
    event_base_dispatch(m->base);
    return 0;
}

static void wb_usage(FILE *f)
{
    fprintf(f, "usage: warblerd [-c FILE] [--check-config]\n"
               "  -c, --config FILE   configuration file (default " WB_DEFAULT_CONFIG ")\n"
               "  --check-config      check the configuration, key file and certificates, "
               "then exit\n");
}

int main(int argc, char **argv)
{
    const char *path = WB_DEFAULT_CONFIG;
    int check_only = 0;
    static const struct option opts[] = {{"config", required_argument, NULL, 'c'},
                                         {"check-config", no_argument, NULL, 'k'},
                                         {"help", no_argument, NULL, 'h'},
                                         {NULL, 0, NULL, 0}};
    int ch;
    while ((ch = getopt_long(argc, argv, "c:h", opts, NULL)) != -1) {
        if (ch == 'c')
            path = optarg;
        else if (ch == 'k')
            check_only = 1;
        else {
            wb_usage(ch == 'h' ? stdout : stderr);
            return ch == 'h' ? 0 : 2;
        }
    }
    if (optind != argc) {
        wb_usage(stderr);
        return 2;
    }
    if (sodium_init() < 0 || evthread_use_pthreads() < 0) {
        fprintf(stderr, "warblerd: cannot initialise libsodium or libevent threads\n");
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);
    static wb_main m; /* zeroed; lives for the whole process */
    m.srv.cfg = wb_config_load(path);
    if (!m.srv.cfg)
        return 1;
    wb_log_set_level_name(m.srv.cfg->log_level);
    pthread_mutex_init(&m.srv.tls_lock, NULL);
    char err[256];
    int rc = 1;
    if (!(m.srv.vault = wb_vault_open(m.srv.cfg->key_file, err, sizeof(err)))) {
        wb_error("%s", err);
        goto out;
    }
    if (!(m.srv.tls = wb_tls_load(m.srv.cfg, err, sizeof(err)))) {
        wb_error("TLS: %s", err);
        goto out;
    }
    if (check_only) {
        printf("%s: configuration OK\n", path);
        rc = 0;
        goto out;
    }
    rc = wb_run(&m) < 0 ? 1 : 0;
    wb_info(rc ? "warblerd stopped after an error" : "warblerd stopped");
out:
    wb_main_free(&m);
    return rc;
}
