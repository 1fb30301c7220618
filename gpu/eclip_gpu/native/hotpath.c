/* The served request path in C: start an execution, wait for it, answer it, with no Python per request after the
 * submit (gpu/eclip_gpu/hotpath.py loads this; serving.py hands it the captured workers).
 *
 * Why: a backend serving thousands of small requests per second spent its time in one Python interpreter (the GIL):
 * per request a job object, a queue hand-off to the worker's thread, a wake after the event, a reply dict, json and a
 * write. Here the frame-reading thread (Python) resolves where the tensors lie and calls hp_submit; from there C
 * enqueues the copies and the graph launch on the worker's stream, and a C thread per worker waits for the
 * execution, writes the reply frame itself and starts the next waiting request.
 *
 * The driver is reached through dlopen (no CUDA headers or libraries at build time): libcuda.so.1, or the library
 * ECLIP_LIBCUDA names (the CPU tests' fake, gpu/tests/fake_cuda.c). Every frame on the reply pipe goes through
 * hp_write (Python's frames.send too, once this library serves), so frames never interleave.
 *
 * Lifetimes: a region (a client's shared memory) is counted here while a request uses it; Python closes it once
 * neither side uses it (hp_region_close, hp_wait_drained). A worker's slots are used in turn and answered in order.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

typedef int CUresult;
typedef void *CUcontext, *CUstream, *CUevent, *CUgraphExec;
typedef uint64_t CUdeviceptr;

#define EV_DEFAULT 0u
#define EV_BLOCKING_SYNC 1u
#define EV_DISABLE_TIMING 2u
#define HOST_ALLOC_PORTABLE 1u

static struct {
  CUresult (*ctx_set_current)(CUcontext);
  CUresult (*htod)(CUdeviceptr, const void *, size_t, CUstream);
  CUresult (*dtoh)(void *, CUdeviceptr, size_t, CUstream);
  CUresult (*dtod)(CUdeviceptr, CUdeviceptr, size_t, CUstream);
  CUresult (*memset8)(CUdeviceptr, unsigned char, size_t, CUstream);
  CUresult (*event_create)(CUevent *, unsigned);
  CUresult (*event_destroy)(CUevent);
  CUresult (*event_record)(CUevent, CUstream);
  CUresult (*event_sync)(CUevent);
  CUresult (*event_elapsed)(float *, CUevent, CUevent);
  CUresult (*graph_launch)(CUgraphExec, CUstream);
  CUresult (*host_alloc)(void **, size_t, unsigned);
  CUresult (*free_host)(void *);
  CUresult (*error_name)(CUresult, const char **);
} cu;

static CUcontext g_ctx;
static int g_out_fd = -1;
static pthread_mutex_t g_write_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_error[512]; /* the last setup error, for Python (hp_error) */

/* clients' regions, by slot (hp_region_add) */
#define MAX_REGIONS 4096

typedef struct {
  atomic_int users;
  atomic_int closing;
  int used;
  char *name_json; /* the region's name as a JSON string, quotes included */
} Region;

static Region g_regions[MAX_REGIONS];
static pthread_mutex_t g_region_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_drained_cv = PTHREAD_COND_INITIALIZER;
static int g_drained[MAX_REGIONS];
static int g_ndrained, g_stopping_reaper;

const char *hp_error(void) { return g_error; }

static void set_error(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(g_error, sizeof g_error, fmt, ap);
  va_end(ap);
}

static const char *cu_name(CUresult r) {
  const char *s = NULL;
  if (cu.error_name == NULL || cu.error_name(r, &s) != 0 || s == NULL) return "CUDA_ERROR_UNKNOWN";
  return s;
}

/* Errors after which the context is poisoned (cuda.py's is_fatal says the same of their names). */
static int cu_fatal(CUresult r) {
  switch (r) {
    case 700: /* ILLEGAL_ADDRESS */
    case 701: /* LAUNCH_OUT_OF_RESOURCES */
    case 702: /* LAUNCH_TIMEOUT */
    case 714: /* HARDWARE_STACK_ERROR */
    case 715: /* ILLEGAL_INSTRUCTION */
    case 716: /* MISALIGNED_ADDRESS */
    case 717: /* INVALID_ADDRESS_SPACE */
    case 718: /* INVALID_PC */
    case 719: /* LAUNCH_FAILED */
    case 999: /* UNKNOWN */
      return 1;
    default:
      return 0;
  }
}

/* ── loading the driver ─────────────────────────────────────────────────────────────────────────────────────── */

static void *sym(void *lib, const char *a, const char *b) {
  void *f = dlsym(lib, a);
  if (f == NULL && b != NULL) f = dlsym(lib, b);
  if (f == NULL) set_error("the driver library has no %s", a);
  return f;
}

/* Loads the driver and makes `ctx` the context of this library's threads; the reply pipe is `out_fd`. 0 or -1
 * (hp_error says why). */
int hp_init(const char *libcuda, void *ctx, int out_fd) {
  void *lib = dlopen(libcuda && *libcuda ? libcuda : "libcuda.so.1", RTLD_NOW | RTLD_GLOBAL);
  if (lib == NULL) {
    set_error("cannot load %s: %s", libcuda && *libcuda ? libcuda : "libcuda.so.1", dlerror());
    return -1;
  }
  if (!(cu.ctx_set_current = sym(lib, "cuCtxSetCurrent", NULL)) ||
      !(cu.htod = sym(lib, "cuMemcpyHtoDAsync_v2", NULL)) || !(cu.dtoh = sym(lib, "cuMemcpyDtoHAsync_v2", NULL)) ||
      !(cu.dtod = sym(lib, "cuMemcpyDtoDAsync_v2", NULL)) || !(cu.memset8 = sym(lib, "cuMemsetD8Async", NULL)) ||
      !(cu.event_create = sym(lib, "cuEventCreate", NULL)) ||
      !(cu.event_destroy = sym(lib, "cuEventDestroy_v2", "cuEventDestroy")) ||
      !(cu.event_record = sym(lib, "cuEventRecord", NULL)) || !(cu.event_sync = sym(lib, "cuEventSynchronize", NULL)) ||
      !(cu.event_elapsed = sym(lib, "cuEventElapsedTime_v2", "cuEventElapsedTime")) ||
      !(cu.graph_launch = sym(lib, "cuGraphLaunch", NULL)) || !(cu.host_alloc = sym(lib, "cuMemHostAlloc", NULL)) ||
      !(cu.free_host = sym(lib, "cuMemFreeHost", NULL)) || !(cu.error_name = sym(lib, "cuGetErrorName", NULL)))
    return -1;
  g_ctx = ctx;
  g_out_fd = out_fd;
  pthread_mutex_lock(&g_region_mu);
  g_stopping_reaper = 0; /* a process that closed a path and starts another (the tests) */
  pthread_mutex_unlock(&g_region_mu);
  return 0;
}

/* ── the reply pipe ─────────────────────────────────────────────────────────────────────────────────────────── */

static int write_all(struct iovec *iov, int n) {
  while (n > 0) {
    ssize_t w = writev(g_out_fd, iov, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    while (n > 0 && (size_t)w >= iov->iov_len) {
      w -= (ssize_t)iov->iov_len;
      iov++;
      n--;
    }
    if (n > 0) {
      iov->iov_base = (char *)iov->iov_base + w;
      iov->iov_len -= (size_t)w;
    }
  }
  return 0;
}

/* One whole frame made by the caller (Python's frames.send): written alone, never interleaved. 0 or -1 (errno). */
int hp_write(const void *frame, size_t n) {
  struct iovec iov = {(void *)frame, n};
  pthread_mutex_lock(&g_write_mu);
  int r = write_all(&iov, 1);
  pthread_mutex_unlock(&g_write_mu);
  return r;
}

static int write_frame(const char *head, size_t hlen, const void *body, size_t blen) {
  uint32_t pre[2] = {(uint32_t)(4 + hlen + blen), (uint32_t)hlen};
  struct iovec iov[3] = {{pre, 8}, {(void *)head, hlen}, {(void *)body, blen}};
  pthread_mutex_lock(&g_write_mu);
  int r = write_all(iov, blen ? 3 : 2);
  pthread_mutex_unlock(&g_write_mu);
  return r;
}

/* ── clients' regions ───────────────────────────────────────────────────────────────────────────────────────── */

/* A slot for a region named `name_json`; -1 when every slot is taken. */
int hp_region_add(const char *name_json) {
  pthread_mutex_lock(&g_region_mu);
  int slot = -1;
  for (int i = 0; i < MAX_REGIONS; i++)
    if (!g_regions[i].used) {
      slot = i;
      break;
    }
  if (slot >= 0) {
    Region *r = &g_regions[slot];
    r->used = 1;
    atomic_store(&r->users, 0);
    atomic_store(&r->closing, 0);
    r->name_json = strdup(name_json);
  }
  pthread_mutex_unlock(&g_region_mu);
  return slot;
}

/* Marks a region closing; 1 when no request here uses it (the caller closes it now), else 0: hp_wait_drained
 * returns the slot once the last one is done. */
int hp_region_close(int slot) {
  if (slot < 0 || slot >= MAX_REGIONS || !g_regions[slot].used) return 1;
  pthread_mutex_lock(&g_region_mu);
  atomic_store(&g_regions[slot].closing, 1);
  int idle = atomic_load(&g_regions[slot].users) == 0;
  pthread_mutex_unlock(&g_region_mu);
  return idle;
}

int hp_region_users(int slot) {
  return slot < 0 || slot >= MAX_REGIONS ? 0 : atomic_load(&g_regions[slot].users);
}

/* The slot can be given to another region (Python closed this one). */
void hp_region_free(int slot) {
  if (slot < 0 || slot >= MAX_REGIONS) return;
  pthread_mutex_lock(&g_region_mu);
  free(g_regions[slot].name_json);
  g_regions[slot].name_json = NULL;
  g_regions[slot].used = 0;
  pthread_mutex_unlock(&g_region_mu);
}

static void region_hold(int slot) {
  if (slot >= 0) atomic_fetch_add(&g_regions[slot].users, 1);
}

static void region_release(int slot) {
  if (slot < 0) return;
  pthread_mutex_lock(&g_region_mu);
  if (atomic_fetch_sub(&g_regions[slot].users, 1) == 1 && atomic_load(&g_regions[slot].closing)) {
    g_drained[g_ndrained++] = slot;
    pthread_cond_signal(&g_drained_cv);
  }
  pthread_mutex_unlock(&g_region_mu);
}

/* Blocks until a closing region is drained (its slot), or until hp_stop_reaper (-1). */
int hp_wait_drained(void) {
  pthread_mutex_lock(&g_region_mu);
  while (g_ndrained == 0 && !g_stopping_reaper) pthread_cond_wait(&g_drained_cv, &g_region_mu);
  int slot = g_ndrained ? g_drained[--g_ndrained] : -1;
  pthread_mutex_unlock(&g_region_mu);
  return slot;
}

void hp_stop_reaper(void) {
  pthread_mutex_lock(&g_region_mu);
  g_stopping_reaper = 1;
  pthread_cond_broadcast(&g_drained_cv);
  pthread_mutex_unlock(&g_region_mu);
}

/* ── workers ────────────────────────────────────────────────────────────────────────────────────────────────── */

enum { SRC_HOST = 0, SRC_DEVICE = 1 };
enum { DST_FRAME = 0, DST_RING = 1, DST_REGION_HOST = 2, DST_REGION_DEVICE = 3 };

typedef struct {
  uint64_t id;
  uint32_t n;
  CUgraphExec graph; /* the capture it runs under (its plan's), and that capture's output */
  CUdeviceptr out;
  int src_kind, src_region;
  uint64_t src;
  uint64_t nbytes;
  int dst_kind, dst_region;
  uint64_t dst, reply_offset;
  uint64_t submitted_ns; /* when hp_submit took it: its wait for a slot is reported with its answer */
} Job;

typedef struct {
  CUevent start, end, done;
  void *host; /* page-locked room for an output answered in the frame */
  Job job;
  double waited_us; /* from hp_submit to its start: queued here behind the worker's executions in flight */
  uint64_t seq;     /* the worker's count of executions started before this one */
  uint64_t launched_ns; /* when it was enqueued on the stream (CLOCK_MONOTONIC): the timing lines */
} Slot;

/* $ECLIP_HOTPATH_TIMING=1: where a worker's stream time goes, for diagnosis (two more timed events per execution).
 * Each execution's stream time splits into the input's copy (begin → start), the graph (start → end) and the
 * output's copy (end → after); `idle` is the stream's time between one execution's `after` and the next one's
 * `begin` (executions of the Python path on the same stream, rare on these paths, count in it), a gap over 1 ms
 * counted as a pause (no requests) and not in the mean.
 * The events are a ring by execution count, longer than the executions in flight, so the previous execution's
 * `after` is still its own when the next is answered. The finisher writes the sums to stderr at the first answer,
 * then every ~2 s and when the worker closes, each line for the executions since the line before; each pause also
 * gets a line of its own with the host's CLOCK_MONOTONIC time at which the execution that ended it was enqueued,
 * to line up with what the server did then (its GC pauses: ECLIP_HOTPATH_TIMING in docs/serve.md). */
typedef struct {
  int on, ring;
  CUevent *begin, *after;
  uint64_t n, idle_n, idle_over_50, pauses;
  double in_ms, graph_ms, out_ms, idle_ms, pause_max_ms;
  uint64_t last_print_ns, every_ns;
  /* host time of each start (the copies' and the launch's driver calls), under the worker's mutex */
  uint64_t enq_n;
  double enq_ms, enq_max_ms;
} Timing;

typedef struct {
  char *name;
  CUstream stream;
  CUdeviceptr static_ptr;
  uint32_t batch;
  uint64_t in_item, out_item;
  char *shape_tail; /* after "shape":[n : the rest of the shape, the datatype and "computeUs": */
  int depth, next, inflight;
  uint64_t started; /* executions started so far (Slot.seq) */
  Timing timing;
  Slot *slots;
  Job *pending;
  size_t pcap, phead, pcount;
  int stopping;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  pthread_t thread;
} Worker;

static void answer_error(Worker *w, uint64_t id, const char *what, CUresult r) {
  char head[1024];
  int fatal = cu_fatal(r);
  int n = snprintf(head, sizeof head,
                   "{\"type\":\"error\",\"id\":%llu,\"message\":\"%s: %s failed: %s (%d)\",\"fatal\":%s}",
                   (unsigned long long)id, w->name, what, cu_name(r), r, fatal ? "true" : "false");
  write_frame(head, (size_t)n, NULL, 0);
  if (fatal) {
    fprintf(stderr, "eclip_gpu: fatal CUDA error, exiting so the process can be restarted: %s: %s failed: %s\n",
            w->name, what, cu_name(r));
    fflush(stderr);
    _exit(3);
  }
}

static void answer_closing(Worker *w, const Job *j) {
  char head[512];
  int n = snprintf(head, sizeof head,
                   "{\"type\":\"error\",\"id\":%llu,\"message\":\"%s: the backend is closing\",\"fatal\":false}",
                   (unsigned long long)j->id, w->name);
  write_frame(head, (size_t)n, NULL, 0);
}

static void release_job(const Job *j) {
  region_release(j->src_region);
  region_release(j->dst_region);
}

#define TRY(call, what)       \
  do {                        \
    CUresult r_ = (call);     \
    if (r_ != 0) {            \
      *failed = (what);       \
      return r_;              \
    }                         \
  } while (0)

/* Enqueues one execution in slot `s` (w->mu held: starts are in slot order). */
static CUresult start(Worker *w, Slot *s, const char **failed) {
  const Job *j = &s->job;
  CUstream h = w->stream;
  const Timing *t = &w->timing;
  if (t->on) TRY(cu.event_record(t->begin[s->seq % t->ring], h), "cuEventRecord");
  if (j->nbytes) {
    if (j->src_kind == SRC_DEVICE)
      TRY(cu.dtod(w->static_ptr, (CUdeviceptr)j->src, j->nbytes, h), "cuMemcpyDtoDAsync");
    else
      TRY(cu.htod(w->static_ptr, (const void *)(uintptr_t)j->src, j->nbytes, h), "cuMemcpyHtoDAsync");
  }
  if (j->n < w->batch) /* the rest of the captured batch zeroed: token id 0, a black image */
    TRY(cu.memset8(w->static_ptr + j->nbytes, 0, (w->batch - j->n) * w->in_item, h), "cuMemsetD8Async");
  TRY(cu.event_record(s->start, h), "cuEventRecord");
  TRY(cu.graph_launch(j->graph, h), "cuGraphLaunch");
  TRY(cu.event_record(s->end, h), "cuEventRecord");
  uint64_t out_bytes = j->n * w->out_item;
  CUdeviceptr out = j->out;
  if (j->dst_kind == DST_FRAME)
    TRY(cu.dtoh(s->host, out, out_bytes, h), "cuMemcpyDtoHAsync");
  else if (j->dst_kind == DST_REGION_DEVICE)
    TRY(cu.dtod((CUdeviceptr)j->dst, out, out_bytes, h), "cuMemcpyDtoDAsync");
  else
    TRY(cu.dtoh((void *)(uintptr_t)j->dst, out, out_bytes, h), "cuMemcpyDtoHAsync");
  if (t->on) TRY(cu.event_record(t->after[s->seq % t->ring], h), "cuEventRecord");
  TRY(cu.event_record(s->done, h), "cuEventRecord");
  return 0;
}

static uint64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Takes the next slot for `j` and starts it (w->mu held); a start that fails is answered here. */
static void start_next(Worker *w, const Job *j) {
  Slot *s = &w->slots[w->next];
  s->job = *j;
  uint64_t now = now_ns();
  s->waited_us = (double)(now - j->submitted_ns) / 1e3;
  s->seq = w->started;
  s->launched_ns = now;
  const char *failed = "";
  CUresult r = start(w, s, &failed);
  if (w->timing.on) {
    double ms = (double)(now_ns() - now) / 1e6;
    w->timing.enq_n++;
    w->timing.enq_ms += ms;
    if (ms > w->timing.enq_max_ms) w->timing.enq_max_ms = ms;
  }
  if (r != 0) {
    release_job(j);
    answer_error(w, j->id, failed, r);
    return;
  }
  w->started++;
  w->next = (w->next + 1) % w->depth;
  w->inflight++;
  pthread_cond_signal(&w->cv);
}

static void print_timing(Worker *w) {
  Timing *t = &w->timing;
  double n = t->n ? (double)t->n : 1.0, m = t->idle_n ? (double)t->idle_n : 1.0;
  pthread_mutex_lock(&w->mu);
  double enq = t->enq_n ? t->enq_ms * 1e3 / (double)t->enq_n : 0.0, enq_max = t->enq_max_ms * 1e3;
  t->enq_n = 0;
  t->enq_ms = t->enq_max_ms = 0;
  pthread_mutex_unlock(&w->mu);
  fprintf(stderr,
          "eclip_gpu: timing %s: %llu executions, mean µs: input %.1f, graph %.1f, output %.1f, idle before %.1f "
          "(%.1f%% over 50 µs), %llu pauses over 1 ms (max %.0f µs), enqueue µs %.1f (max %.0f), "
          "at %.3f ms (monotonic)\n",
          w->name, (unsigned long long)t->n, t->in_ms * 1e3 / n, t->graph_ms * 1e3 / n, t->out_ms * 1e3 / n,
          t->idle_ms * 1e3 / m, 100.0 * (double)t->idle_over_50 / m, (unsigned long long)t->pauses,
          t->pause_max_ms * 1e3, enq, enq_max, (double)now_ns() / 1e6);
  fflush(stderr);
  t->n = t->idle_n = t->idle_over_50 = t->pauses = 0;
  t->in_ms = t->graph_ms = t->out_ms = t->idle_ms = t->pause_max_ms = 0;
}

static void time_execution(Worker *w, const Slot *s, float graph_ms) {
  Timing *t = &w->timing;
  float in = 0, out = 0, idle = 0;
  int k = (int)(s->seq % (uint64_t)t->ring);
  cu.event_elapsed(&in, t->begin[k], s->start);
  cu.event_elapsed(&out, s->end, t->after[k]);
  t->n++;
  t->in_ms += in;
  t->graph_ms += graph_ms;
  t->out_ms += out;
  if (s->seq > 0 && cu.event_elapsed(&idle, t->after[(s->seq - 1) % (uint64_t)t->ring], t->begin[k]) == 0) {
    if (idle > 1.0f) {
      t->pauses++;
      if (idle > t->pause_max_ms) t->pause_max_ms = idle;
      fprintf(stderr,
              "eclip_gpu: pause %s: %.0f µs, ended by an execution enqueued at %.3f ms (monotonic), %.0f µs after "
              "it was submitted\n",
              w->name, (double)idle * 1e3, (double)s->launched_ns / 1e6, s->waited_us);
    } else {
      if (idle < 0) idle = 0;
      t->idle_n++;
      t->idle_ms += idle;
      if (idle > 0.05f) t->idle_over_50++;
    }
  }
  uint64_t now = now_ns();
  if (now - t->last_print_ns >= t->every_ns) {
    t->last_print_ns = now;
    print_timing(w);
  }
}

static void answer(Worker *w, Slot *s) {
  const Job *j = &s->job;
  float ms = 0;
  CUresult r = cu.event_sync(s->done);
  if (r != 0) {
    release_job(j);
    answer_error(w, j->id, "cuEventSynchronize", r);
    return;
  }
  cu.event_elapsed(&ms, s->start, s->end);
  uint64_t out_bytes = j->n * w->out_item;
  char head[1024];
  int n = snprintf(head, sizeof head, "{\"type\":\"output\",\"id\":%llu,\"shape\":[%u%s%.1f",
                   (unsigned long long)j->id, j->n, w->shape_tail, (double)ms * 1e3);
  if (s->waited_us >= 1.0) n += snprintf(head + n, sizeof head - n, ",\"waitedUs\":%.1f", s->waited_us);
  if (j->dst_kind == DST_FRAME)
    n += snprintf(head + n, sizeof head - n, "}");
  else if (j->dst_kind == DST_RING)
    n += snprintf(head + n, sizeof head - n, ",\"shm\":{\"offset\":%llu,\"bytes\":%llu}}",
                  (unsigned long long)j->reply_offset, (unsigned long long)out_bytes);
  else
    n += snprintf(head + n, sizeof head - n, ",\"output\":{\"region\":%s,\"offset\":%llu,\"bytes\":%llu}}",
                  g_regions[j->dst_region].name_json, (unsigned long long)j->reply_offset,
                  (unsigned long long)out_bytes);
  /* the regions are let go before the reply, so a client holding its answer finds them in use no more (the head
   * already holds the region's name) */
  release_job(j);
  write_frame(head, (size_t)n, j->dst_kind == DST_FRAME ? s->host : NULL, j->dst_kind == DST_FRAME ? out_bytes : 0);
  if (w->timing.on) time_execution(w, s, ms); /* after the reply: the diagnosis does not delay it */
}

/* The worker's thread: answers its executions in start order, each once its GPU work is done, then starts the
 * next waiting request in the slot that freed. Stopping: waiting requests are answered with an error, started
 * ones are finished. */
static void *finisher(void *arg) {
  Worker *w = arg;
  cu.ctx_set_current(g_ctx);
  pthread_mutex_lock(&w->mu);
  for (;;) {
    while (w->inflight == 0 && !w->stopping) pthread_cond_wait(&w->cv, &w->mu);
    if (w->inflight == 0) break; /* stopping, nothing started */
    Slot *s = &w->slots[(w->next - w->inflight + w->depth) % w->depth];
    pthread_mutex_unlock(&w->mu);
    answer(w, s);
    pthread_mutex_lock(&w->mu);
    w->inflight--;
    while (!w->stopping && w->pcount > 0 && w->inflight < w->depth) {
      Job j = w->pending[w->phead];
      w->phead = (w->phead + 1) % w->pcap;
      w->pcount--;
      start_next(w, &j);
    }
  }
  while (w->pcount > 0) {
    Job *j = &w->pending[w->phead];
    w->phead = (w->phead + 1) % w->pcap;
    w->pcount--;
    release_job(j);
    answer_closing(w, j);
  }
  pthread_mutex_unlock(&w->mu);
  return NULL;
}

/* A captured worker: its stream, static input (batch × in_item bytes), out_item bytes of output per item, `depth`
 * executions in flight. NULL on failure (hp_error). */
void *hp_worker_add(const char *name, void *stream, uint64_t static_ptr, uint32_t batch, uint64_t in_item,
                    uint64_t out_item, const char *shape_tail, int depth) {
  Worker *w = calloc(1, sizeof *w);
  if (w == NULL) return NULL;
  w->name = strdup(name);
  w->stream = stream;
  w->static_ptr = static_ptr;
  w->batch = batch;
  w->in_item = in_item;
  w->out_item = out_item;
  w->shape_tail = strdup(shape_tail);
  w->depth = depth;
  w->slots = calloc((size_t)depth, sizeof(Slot));
  w->pcap = 64;
  w->pending = malloc(sizeof(Job) * w->pcap);
  pthread_mutex_init(&w->mu, NULL);
  pthread_cond_init(&w->cv, NULL);
  cu.ctx_set_current(g_ctx);
  for (int i = 0; i < depth; i++) {
    Slot *s = &w->slots[i];
    CUresult r;
    if ((r = cu.event_create(&s->start, EV_DEFAULT)) || (r = cu.event_create(&s->end, EV_DEFAULT)) ||
        (r = cu.event_create(&s->done, EV_BLOCKING_SYNC | EV_DISABLE_TIMING)) ||
        (r = cu.host_alloc(&s->host, batch * out_item ? batch * out_item : 1, HOST_ALLOC_PORTABLE))) {
      set_error("%s: setting up its executions failed: %s", name, cu_name(r));
      return NULL; /* leaks what was made: the backend does not go on without its worker */
    }
  }
  const char *timing = getenv("ECLIP_HOTPATH_TIMING");
  if (timing != NULL && strcmp(timing, "1") == 0) {
    Timing *t = &w->timing;
    t->on = 1;
    t->ring = depth + 2;
    const char *every = getenv("ECLIP_HOTPATH_TIMING_MS"); /* how often the lines come (default 2 s) */
    double ms = every != NULL ? atof(every) : 0.0;
    t->every_ns = (uint64_t)((ms > 0 ? ms : 2000.0) * 1e6);
    t->begin = calloc((size_t)t->ring, sizeof(CUevent));
    t->after = calloc((size_t)t->ring, sizeof(CUevent));
    for (int i = 0; i < t->ring; i++) {
      CUresult r;
      if ((r = cu.event_create(&t->begin[i], EV_DEFAULT)) || (r = cu.event_create(&t->after[i], EV_DEFAULT))) {
        set_error("%s: setting up its timing events failed: %s", name, cu_name(r));
        return NULL;
      }
    }
  }
  if (pthread_create(&w->thread, NULL, finisher, w) != 0) {
    set_error("%s: cannot start its thread", name);
    return NULL;
  }
  return w;
}

/* One request (the frame reader's thread) under the capture `graph` (writing `out`): started now when a slot is
 * free and none waits, else queued. The regions it names (slots, or -1) are held until it is answered. 0, or -1 when
 * the worker is closing (not queued). */
int hp_submit(void *handle, uint64_t id, uint32_t n, void *graph, uint64_t out, int src_kind, int src_region,
              uint64_t src, uint64_t nbytes, int dst_kind, int dst_region, uint64_t dst, uint64_t reply_offset) {
  Worker *w = handle;
  Job j = {id, n, graph, out, src_kind, src_region, src, nbytes, dst_kind, dst_region, dst, reply_offset, now_ns()};
  pthread_mutex_lock(&w->mu);
  if (w->stopping) {
    pthread_mutex_unlock(&w->mu);
    return -1;
  }
  region_hold(src_region);
  region_hold(dst_region);
  if (w->inflight < w->depth && w->pcount == 0) {
    start_next(w, &j);
  } else {
    if (w->pcount == w->pcap) { /* grow the ring, oldest first */
      Job *p = malloc(sizeof(Job) * w->pcap * 2);
      for (size_t i = 0; i < w->pcount; i++) p[i] = w->pending[(w->phead + i) % w->pcap];
      free(w->pending);
      w->pending = p;
      w->phead = 0;
      w->pcap *= 2;
    }
    w->pending[(w->phead + w->pcount) % w->pcap] = j;
    w->pcount++;
  }
  pthread_mutex_unlock(&w->mu);
  return 0;
}

/* Python's own executions of a native worker (a datatype to convert, an input carried in the frame) enqueue on the
 * same stream between these two calls, so no C start is enqueued in the middle of theirs. */
void hp_worker_lock(void *handle) { pthread_mutex_lock(&((Worker *)handle)->mu); }
void hp_worker_unlock(void *handle) { pthread_mutex_unlock(&((Worker *)handle)->mu); }

/* Requests submitted and not started yet: they hold their captures (model control retires a capture only once
 * none waits). */
int hp_worker_waiting(void *handle) {
  Worker *w = handle;
  pthread_mutex_lock(&w->mu);
  int n = (int)w->pcount;
  pthread_mutex_unlock(&w->mu);
  return n;
}

/* Requests submitted and not yet answered. */
int hp_worker_busy(void *handle) {
  Worker *w = handle;
  pthread_mutex_lock(&w->mu);
  int busy = w->inflight + (int)w->pcount;
  pthread_mutex_unlock(&w->mu);
  return busy;
}

/* Stops a worker: waiting requests are answered with an error, started ones finished; frees it. */
void hp_worker_close(void *handle) {
  Worker *w = handle;
  pthread_mutex_lock(&w->mu);
  w->stopping = 1;
  pthread_cond_signal(&w->cv);
  pthread_mutex_unlock(&w->mu);
  pthread_join(w->thread, NULL);
  if (w->timing.on && w->timing.n) print_timing(w);
  for (int i = 0; i < w->depth; i++) {
    cu.event_destroy(w->slots[i].start);
    cu.event_destroy(w->slots[i].end);
    cu.event_destroy(w->slots[i].done);
    cu.free_host(w->slots[i].host);
  }
  for (int i = 0; w->timing.on && i < w->timing.ring; i++) {
    cu.event_destroy(w->timing.begin[i]);
    cu.event_destroy(w->timing.after[i]);
  }
  free(w->timing.begin);
  free(w->timing.after);
  pthread_mutex_destroy(&w->mu);
  pthread_cond_destroy(&w->cv);
  free(w->slots);
  free(w->pending);
  free(w->shape_tail);
  free(w->name);
  free(w);
}
