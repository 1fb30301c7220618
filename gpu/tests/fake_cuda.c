/* A stand-in for libcuda with just what gpu/eclip_gpu/native/hotpath.c calls, for the CPU tests (no GPU in CI).
 *
 * "Device" memory is host memory. Each stream is a thread that runs its operations in order, later than they are
 * enqueued, as a GPU would: an event completes when the stream reaches it, so a test sees the same asynchrony as on
 * a GPU (a buffer read before its copy is done, an answer before its event, shows). A "graph" is fake_graph_new's:
 * it writes out[i] = in[i % in_bytes] + 1 after `delay_us`. fake_fail makes the next call of a function fail.
 */
#define _GNU_SOURCE
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  uint64_t recorded, done;
  double t_ms;
} Event;

typedef struct {
  uint8_t *in, *out;
  size_t in_bytes, out_bytes;
  int delay_us;
} Graph;

enum { OP_COPY, OP_SET, OP_GRAPH, OP_EVENT };
typedef struct Op {
  int kind;
  void *dst;
  const void *src;
  size_t n;
  int value;
  Graph *graph;
  Event *event;
  uint64_t gen;
  struct Op *next;
} Op;

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  Op *head, *tail;
  pthread_t thread;
} Stream;

static double now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

static void *run_stream(void *arg) {
  Stream *s = arg;
  for (;;) {
    pthread_mutex_lock(&s->mu);
    while (s->head == NULL) pthread_cond_wait(&s->cv, &s->mu);
    Op *op = s->head;
    s->head = op->next;
    if (s->head == NULL) s->tail = NULL;
    pthread_mutex_unlock(&s->mu);
    switch (op->kind) {
      case OP_COPY: memcpy(op->dst, op->src, op->n); break;
      case OP_SET: memset(op->dst, op->value, op->n); break;
      case OP_GRAPH: {
        Graph *g = op->graph;
        if (g->delay_us) usleep((useconds_t)g->delay_us);
        for (size_t i = 0; i < g->out_bytes; i++) g->out[i] = (uint8_t)(g->in[i % g->in_bytes] + 1);
        break;
      }
      case OP_EVENT:
        pthread_mutex_lock(&op->event->mu);
        op->event->done = op->gen;
        op->event->t_ms = now_ms();
        pthread_cond_broadcast(&op->event->cv);
        pthread_mutex_unlock(&op->event->mu);
        break;
    }
    free(op);
  }
  return NULL;
}

static void push(Stream *s, Op *op) {
  op->next = NULL;
  pthread_mutex_lock(&s->mu);
  if (s->tail) s->tail->next = op;
  else s->head = op;
  s->tail = op;
  pthread_cond_signal(&s->cv);
  pthread_mutex_unlock(&s->mu);
}

/* ── failures on demand ─────────────────────────────────────────────────────────────────────────────────────── */
static char fail_name[64];
static int fail_code;

void fake_fail(const char *name, int code) {
  strncpy(fail_name, name, sizeof fail_name - 1);
  fail_code = code;
}

static int failing(const char *name) {
  if (fail_code && strcmp(name, fail_name) == 0) {
    int c = fail_code;
    fail_code = 0;
    return c;
  }
  return 0;
}

#define FAIL(name)               \
  do {                           \
    int c_ = failing(name);      \
    if (c_) return c_;           \
  } while (0)

/* ── the test's handles ─────────────────────────────────────────────────────────────────────────────────────── */
void *fake_stream_new(void) {
  Stream *s = calloc(1, sizeof *s);
  pthread_mutex_init(&s->mu, NULL);
  pthread_cond_init(&s->cv, NULL);
  pthread_create(&s->thread, NULL, run_stream, s);
  pthread_detach(s->thread);
  return s;
}

void *fake_graph_new(void *in, size_t in_bytes, void *out, size_t out_bytes, int delay_us) {
  Graph *g = calloc(1, sizeof *g);
  *g = (Graph){in, out, in_bytes, out_bytes, delay_us};
  return g;
}

/* ── the driver's entry points ──────────────────────────────────────────────────────────────────────────────── */
int cuCtxSetCurrent(void *ctx) { (void)ctx; return 0; }

static int copy(void *dst, const void *src, size_t n, void *stream, const char *name) {
  FAIL(name);
  Op *op = calloc(1, sizeof *op);
  *op = (Op){.kind = OP_COPY, .dst = dst, .src = src, .n = n};
  push(stream, op);
  return 0;
}

int cuMemcpyHtoDAsync_v2(uint64_t dst, const void *src, size_t n, void *s) {
  return copy((void *)(uintptr_t)dst, src, n, s, "cuMemcpyHtoDAsync_v2");
}
int cuMemcpyDtoHAsync_v2(void *dst, uint64_t src, size_t n, void *s) {
  return copy(dst, (const void *)(uintptr_t)src, n, s, "cuMemcpyDtoHAsync_v2");
}
int cuMemcpyDtoDAsync_v2(uint64_t dst, uint64_t src, size_t n, void *s) {
  return copy((void *)(uintptr_t)dst, (const void *)(uintptr_t)src, n, s, "cuMemcpyDtoDAsync_v2");
}

int cuMemsetD8Async(uint64_t dst, unsigned char v, size_t n, void *s) {
  FAIL("cuMemsetD8Async");
  Op *op = calloc(1, sizeof *op);
  *op = (Op){.kind = OP_SET, .dst = (void *)(uintptr_t)dst, .n = n, .value = v};
  push(s, op);
  return 0;
}

int cuGraphLaunch(void *graph, void *s) {
  FAIL("cuGraphLaunch");
  Op *op = calloc(1, sizeof *op);
  *op = (Op){.kind = OP_GRAPH, .graph = graph};
  push(s, op);
  return 0;
}

int cuEventCreate(void **e, unsigned flags) {
  (void)flags;
  Event *ev = calloc(1, sizeof *ev);
  pthread_mutex_init(&ev->mu, NULL);
  pthread_cond_init(&ev->cv, NULL);
  *e = ev;
  return 0;
}

int cuEventDestroy_v2(void *e) { free(e); return 0; }

int cuEventRecord(void *e, void *s) {
  FAIL("cuEventRecord");
  Event *ev = e;
  Op *op = calloc(1, sizeof *op);
  pthread_mutex_lock(&ev->mu);
  *op = (Op){.kind = OP_EVENT, .event = ev, .gen = ++ev->recorded};
  pthread_mutex_unlock(&ev->mu);
  push(s, op);
  return 0;
}

int cuEventSynchronize(void *e) {
  FAIL("cuEventSynchronize");
  Event *ev = e;
  pthread_mutex_lock(&ev->mu);
  uint64_t want = ev->recorded;
  while (ev->done < want) pthread_cond_wait(&ev->cv, &ev->mu);
  pthread_mutex_unlock(&ev->mu);
  return 0;
}

int cuEventElapsedTime_v2(float *ms, void *start, void *end) {
  *ms = (float)(((Event *)end)->t_ms - ((Event *)start)->t_ms);
  return 0;
}

int cuMemHostAlloc(void **p, size_t n, unsigned flags) {
  (void)flags;
  *p = calloc(1, n);
  return *p ? 0 : 2;
}

int cuMemFreeHost(void *p) { free(p); return 0; }

int cuGetErrorName(int code, const char **s) {
  switch (code) {
    case 1: *s = "CUDA_ERROR_INVALID_VALUE"; break;
    case 700: *s = "CUDA_ERROR_ILLEGAL_ADDRESS"; break;
    default: *s = "CUDA_ERROR_UNKNOWN"; break;
  }
  return 0;
}
