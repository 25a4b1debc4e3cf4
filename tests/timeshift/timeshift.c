/* Moves the wall clock of a process (and its children) by TIMESHIFT_SECONDS, nothing else.
 *
 * CI runs the test suite a second time under this library (LD_PRELOAD), years ahead, so that
 * a test which compares a fixed date with the wall clock fails in CI, not next month. Only
 * CLOCK_REALTIME moves: the monotonic clock, which timed waits and sleeps count on, is left
 * alone. libfaketime moves both, and Python's timed waits (sem_clockwait on the monotonic
 * clock) then wait for years; see docs/adr/0005-tests-years-ahead.md.
 *
 * Build: gcc -shared -fPIC -O2 -o timeshift.so timeshift.c -ldl
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdlib.h>
#include <sys/time.h>
#include <time.h>

static long long shift(void) {
    static long long seconds;
    static int read;
    if (!read) {
        const char *value = getenv("TIMESHIFT_SECONDS");
        seconds = value ? atoll(value) : 0;
        read = 1;
    }
    return seconds;
}

static int wall(clockid_t id) {
    return id == CLOCK_REALTIME || id == CLOCK_REALTIME_COARSE;
}

int clock_gettime(clockid_t id, struct timespec *ts) {
    static int (*real)(clockid_t, struct timespec *);
    if (!real) real = (int (*)(clockid_t, struct timespec *))dlsym(RTLD_NEXT, "clock_gettime");
    int result = real(id, ts);
    if (result == 0 && wall(id)) ts->tv_sec += shift();
    return result;
}

int gettimeofday(struct timeval *tv, void *tz) {
    static int (*real)(struct timeval *, void *);
    if (!real) real = (int (*)(struct timeval *, void *))dlsym(RTLD_NEXT, "gettimeofday");
    int result = real(tv, tz);
    if (result == 0) tv->tv_sec += shift();
    return result;
}

time_t time(time_t *out) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (out) *out = now.tv_sec;
    return now.tv_sec;
}

int timespec_get(struct timespec *ts, int base) {
    return base == TIME_UTC && clock_gettime(CLOCK_REALTIME, ts) == 0 ? base : 0;
}
