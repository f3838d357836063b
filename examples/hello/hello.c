// hello: the example app for skiff's tests, benchmarks and demo.
// A small HTTP/1.1 server (keep-alive, one thread per connection) that reports
// its version, with switches to misbehave:
//   PORT=3000            port to listen on
//   VERSION=v1           overrides the version baked in at build time
//   CRASH_AT_BOOT=1      exit 1 before listening
//   NEVER_HEALTHY=1      /healthz answers 503 forever
//   HEALTHY_AFTER=S      /healthz answers 503 for the first S seconds
//   DIE_AFTER=S          exit 1 S seconds after becoming healthy
//   SLOW_MS=N            every request to / takes N ms (in-flight requests for drain tests)
//   SKIFF_MACHINE=m1     the machine named in the greeting (skiff sets it; else the host name)
// GET / (hello + version), /healthz, /version, /env/NAME (the value of env NAME, for config tests),
// /alloc?mb=N (allocates and keeps N MB, for memory-limit tests).
// SIGTERM: stop accepting, finish requests in flight, exit 0 (at most 10 s).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#ifndef APP_VERSION
#define APP_VERSION "dev"
#endif

static const char *version = APP_VERSION;
static char host[256] = "?";
static double started, healthy_after = 0, die_after = -1;
static int never_healthy = 0, slow_ms = 0;
static atomic_int active = 0;
static atomic_long served = 0;
static volatile sig_atomic_t stopping = 0;
static int listen_fd = -1;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

static void logf_(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  char ts[32];
  strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  fprintf(stdout, "%s hello[%s] %s\n", ts, version, buf);
  fflush(stdout);
}

static double envnum(const char *name, double dflt) {
  const char *v = getenv(name);
  return v && *v ? atof(v) : dflt;
}

static int is_healthy(void) { return !never_healthy && now() - started >= healthy_after; }

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

// Head and body in one write, as most servers do for small responses: a crash
// then loses a response whole (the proxy can retry it) or not at all.
static int respond(int fd, int status, const char *body, int keep) {
  char out[65536];
  const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found" : "Service Unavailable";
  int n = snprintf(out, sizeof out, "HTTP/1.1 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\nX-Version: %s\r\nConnection: %s\r\n\r\n%s",
                   status, reason, strlen(body), version, keep ? "keep-alive" : "close", body);
  if (n < 0 || n >= (int)sizeof out) return -1;
  return write_all(fd, out, (size_t)n);
}

static void *serve(void *arg) {
  int fd = (int)(long)arg;
  char buf[16384];
  size_t len = 0;
  struct timeval tv = {120, 0}; // idle keep-alive; longer than the proxy's reuse window
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  for (;;) {
    char *end;
    while (!(end = memmem(buf, len, "\r\n\r\n", 4))) {
      if (len == sizeof buf) goto done;
      ssize_t r = recv(fd, buf + len, sizeof buf - len, 0);
      if (r <= 0) goto done;
      len += (size_t)r;
    }
    size_t head_len = (size_t)(end - buf) + 4;
    char method[16] = "", path[1024] = "";
    sscanf(buf, "%15s %1023s", method, path);
    buf[head_len - 1] = 0;
    int keep = strcasestr(buf, "\nconnection: close") == NULL && strstr(buf, "HTTP/1.0") == NULL;
    size_t body = 0;
    char *cl = strcasestr(buf, "\ncontent-length:");
    if (cl) body = strtoul(cl + 16, NULL, 10);
    // drop the request (and any body) from the buffer
    size_t consumed = head_len + body;
    while (len < consumed) {
      ssize_t r = recv(fd, buf, sizeof buf, 0);
      if (r <= 0) goto done;
      consumed -= (size_t)r;
    }
    memmove(buf, buf + consumed, len - consumed);
    len -= consumed;

    atomic_fetch_add(&active, 1);
    if (stopping) keep = 0;
    int rc;
    char out[512];
    if (strcmp(path, "/healthz") == 0) {
      rc = is_healthy() ? respond(fd, 200, "ok\n", keep) : respond(fd, 503, "starting\n", keep);
    } else if (strcmp(path, "/version") == 0) {
      snprintf(out, sizeof out, "%s\n", version);
      rc = respond(fd, 200, out, keep);
    } else if (strncmp(path, "/env/", 5) == 0) {
      const char *val = getenv(path + 5);
      rc = val ? respond(fd, 200, val, keep) : respond(fd, 404, "not set\n", keep);
    } else if (strncmp(path, "/alloc?mb=", 10) == 0) {
      // Allocates and touches N MB that are never freed: for memory-limit tests.
      long mb = atol(path + 10);
      for (long i = 0; i < mb; i++) {
        char *p = malloc(1 << 20);
        if (!p) break;
        memset(p, 1, 1 << 20);
      }
      snprintf(out, sizeof out, "allocated %ld MB\n", mb);
      rc = respond(fd, 200, out, keep);
    } else if (strcmp(path, "/") == 0 || strncmp(path, "/?", 2) == 0) {
      if (slow_ms) usleep((useconds_t)slow_ms * 1000);
      snprintf(out, sizeof out, "hello from %s on %s\n", version, host);
      rc = respond(fd, 200, out, keep);
    } else {
      rc = respond(fd, 404, "not found\n", keep);
    }
    atomic_fetch_add(&served, 1);
    atomic_fetch_sub(&active, 1);
    if (rc < 0 || !keep) break;
  }
done:
  close(fd);
  return NULL;
}

static void on_term(int sig) {
  (void)sig;
  stopping = 1;
  if (listen_fd >= 0) shutdown(listen_fd, SHUT_RDWR);
}

static void *watchdog(void *arg) {
  (void)arg;
  double healthy_at = started + healthy_after;
  for (;;) {
    usleep(100 * 1000);
    if (die_after >= 0 && !never_healthy && now() >= healthy_at + die_after) {
      logf_("DIE_AFTER=%g: exiting after %g s of being healthy", die_after, die_after);
      exit(1);
    }
  }
  return NULL;
}

int main(void) {
  started = now();
  // The machine's name as skiff gives it (as examples/hello-node says it), else the container's host name.
  const char *machine = getenv("SKIFF_MACHINE");
  if (machine && *machine) snprintf(host, sizeof host, "%s", machine);
  else gethostname(host, sizeof host - 1);
  const char *v = getenv("VERSION");
  if (v && *v) version = v;
  int port = (int)envnum("PORT", 3000);
  never_healthy = getenv("NEVER_HEALTHY") && *getenv("NEVER_HEALTHY") == '1';
  healthy_after = envnum("HEALTHY_AFTER", 0);
  die_after = envnum("DIE_AFTER", -1);
  slow_ms = (int)envnum("SLOW_MS", 0);
  if (getenv("CRASH_AT_BOOT") && *getenv("CRASH_AT_BOOT") == '1') {
    logf_("CRASH_AT_BOOT=1: exiting before listening");
    return 1;
  }
  struct sigaction sa = {0};
  sa.sa_handler = on_term;
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);

  listen_fd = socket(AF_INET6, SOCK_STREAM, 0);
  int one = 1, zero = 0;
  setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  setsockopt(listen_fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
  struct sockaddr_in6 addr = {0};
  addr.sin6_family = AF_INET6;
  addr.sin6_addr = in6addr_any;
  addr.sin6_port = htons((uint16_t)port);
  if (bind(listen_fd, (struct sockaddr *)&addr, sizeof addr) < 0 || listen(listen_fd, 1024) < 0) {
    logf_("cannot listen on port %d: %s", port, strerror(errno));
    return 1;
  }
  logf_("listening on :%d (healthy after %gs%s%s)", port, healthy_after, never_healthy ? ", never healthy" : "", die_after >= 0 ? ", will die" : "");
  pthread_t w;
  pthread_create(&w, NULL, watchdog, NULL);
  pthread_detach(w);

  while (!stopping) {
    int fd = accept(listen_fd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;
    }
    pthread_t t;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_attr_setstacksize(&at, 256 * 1024);
    if (pthread_create(&t, &at, serve, (void *)(long)fd) != 0) close(fd);
    pthread_attr_destroy(&at);
  }
  logf_("SIGTERM: draining %d request(s) in flight", atomic_load(&active));
  double deadline = now() + 10;
  while (atomic_load(&active) > 0 && now() < deadline) usleep(10 * 1000);
  logf_("stopped after %ld request(s)", atomic_load(&served));
  return 0;
}
