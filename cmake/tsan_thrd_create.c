// Preloaded into the tsan preset's test processes (see CMakeLists.txt).
// glibc's thrd_create (C11 threads, used by librdkafka) calls its own
// pthread_create directly, past ThreadSanitizer's interceptor: TSan then
// knows nothing of the thread and crashes in its first intercepted call.
// These go through pthread_create, _join and _detach, which TSan intercepts.
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <threads.h>

struct Start {
  thrd_start_t fn;
  void* arg;
};

static void* Trampoline(void* p) {
  struct Start start = *(struct Start*)p;
  free(p);
  return (void*)(intptr_t)start.fn(start.arg);
}

int thrd_create(thrd_t* thread, thrd_start_t fn, void* arg) {
  struct Start* start = malloc(sizeof(struct Start));
  if (start == NULL) return thrd_nomem;
  start->fn = fn;
  start->arg = arg;
  pthread_t id;
  if (pthread_create(&id, NULL, Trampoline, start) != 0) {
    free(start);
    return thrd_error;
  }
  *thread = (thrd_t)id;
  return thrd_success;
}

// Joined and detached the same way, or TSan reports every such thread as leaked.
int thrd_join(thrd_t thread, int* result) {
  void* value = NULL;
  if (pthread_join((pthread_t)thread, &value) != 0) return thrd_error;
  if (result != NULL) *result = (int)(intptr_t)value;
  return thrd_success;
}

int thrd_detach(thrd_t thread) {
  return pthread_detach((pthread_t)thread) == 0 ? thrd_success : thrd_error;
}
