/*
 * check.h — the assertion helpers shared by the C test programs.
 *
 * Every CHECK counts a pass or a failure; a failure prints file:line, what was
 * expected, and the calling thread's MXGetLastError() text. RUN() runs one test
 * function and reports it; check_summary() prints the program's totals and gives
 * the exit status. Counters are updated atomically, so CHECKs may be used from
 * several threads at once.
 */
#ifndef MXKV_CHECK_H
#define MXKV_CHECK_H

/* unsetenv, truncate, pthreads under -std=c99 */
#ifndef _POSIX_C_SOURCE
#define _POSIX_C_SOURCE 200809L
#endif

#include <ctype.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mxkv.h"

static long check_passes;
static long check_failures;

static inline void check_pass(void) { __atomic_fetch_add(&check_passes, 1, __ATOMIC_RELAXED); }

static inline void check_fail_at(const char *file, int line, const char *what) {
    const char *err = MXGetLastError();
    __atomic_fetch_add(&check_failures, 1, __ATOMIC_RELAXED);
    fprintf(stderr, "%s:%d: FAILED: %s\n    MXGetLastError: \"%s\"\n", file, line, what,
            err ? err : "(null)");
}

/* Case-insensitive substring search (the phrases of our messages are words, not codes). */
static inline int check_contains_ci(const char *haystack, const char *needle) {
    size_t n = strlen(needle);
    if (!haystack) return 0;
    for (; *haystack; haystack++) {
        size_t i = 0;
        while (i < n && haystack[i] &&
               tolower((unsigned char)haystack[i]) == tolower((unsigned char)needle[i]))
            i++;
        if (i == n) return 1;
    }
    return n == 0;
}

#define CHECK(cond)                                                                  \
    do {                                                                             \
        if (cond) check_pass();                                                      \
        else check_fail_at(__FILE__, __LINE__, #cond);                               \
    } while (0)

/* The call must succeed (return 0). */
#define CHECK_OK(call)                                                               \
    do {                                                                             \
        int check_rc_ = (call);                                                      \
        if (check_rc_ == 0) check_pass();                                            \
        else {                                                                       \
            char check_msg_[512];                                                    \
            snprintf(check_msg_, sizeof check_msg_, "%s returned %d, expected 0",    \
                     #call, check_rc_);                                              \
            check_fail_at(__FILE__, __LINE__, check_msg_);                           \
        }                                                                            \
    } while (0)

/* The call must fail with -1, and the message must start with "MXNetError: " and
 * contain `phrase` (case-insensitive). */
#define CHECK_FAIL(call, phrase)                                                     \
    check_fail_impl(__FILE__, __LINE__, #call, (call), (phrase))

static inline void check_fail_impl(const char *file, int line, const char *text, int rc,
                            const char *phrase) {
    char msg[768];
    const char *err = MXGetLastError();
    if (rc != -1) {
        snprintf(msg, sizeof msg, "%s returned %d, expected -1", text, rc);
        check_fail_at(file, line, msg);
        return;
    }
    if (!err || strncmp(err, "MXNetError: ", 12) != 0) {
        snprintf(msg, sizeof msg, "%s: message does not start with \"MXNetError: \"", text);
        check_fail_at(file, line, msg);
        return;
    }
    if (!check_contains_ci(err, phrase)) {
        snprintf(msg, sizeof msg, "%s: message does not contain \"%s\"", text, phrase);
        check_fail_at(file, line, msg);
        return;
    }
    if (getenv("CHECK_SHOW_ERRORS")) fprintf(stderr, "%s:%d: %s\n", file, line, err);
    check_pass();
}

/* The last error of this thread must contain `phrase` as well (a second phrase). */
#define CHECK_ERR_HAS(phrase)                                                        \
    do {                                                                             \
        if (check_contains_ci(MXGetLastError(), (phrase))) check_pass();             \
        else check_fail_at(__FILE__, __LINE__, "last error contains \"" phrase "\""); \
    } while (0)

#define CHECK_EQ_INT(a, b)                                                           \
    do {                                                                             \
        long long check_a_ = (long long)(a), check_b_ = (long long)(b);              \
        if (check_a_ == check_b_) check_pass();                                      \
        else {                                                                       \
            char check_msg_[512];                                                    \
            snprintf(check_msg_, sizeof check_msg_, "%s == %s (%lld vs %lld)", #a,   \
                     #b, check_a_, check_b_);                                        \
            check_fail_at(__FILE__, __LINE__, check_msg_);                           \
        }                                                                            \
    } while (0)

/* Exact comparison of two doubles (the tests choose exactly representable values). */
#define CHECK_EQ_DBL(a, b)                                                           \
    do {                                                                             \
        double check_a_ = (double)(a), check_b_ = (double)(b);                       \
        if (check_a_ == check_b_) check_pass();                                      \
        else {                                                                       \
            char check_msg_[512];                                                    \
            snprintf(check_msg_, sizeof check_msg_, "%s == %s (%.17g vs %.17g)", #a, \
                     #b, check_a_, check_b_);                                        \
            check_fail_at(__FILE__, __LINE__, check_msg_);                           \
        }                                                                            \
    } while (0)

#define CHECK_STR_EQ(a, b)                                                           \
    do {                                                                             \
        const char *check_a_ = (a), *check_b_ = (b);                                 \
        if (check_a_ && check_b_ && strcmp(check_a_, check_b_) == 0) check_pass();   \
        else {                                                                       \
            char check_msg_[512];                                                    \
            snprintf(check_msg_, sizeof check_msg_, "%s == %s (\"%.200s\" vs \"%.200s\")",   \
                     #a, #b, check_a_ ? check_a_ : "(null)",                         \
                     check_b_ ? check_b_ : "(null)");                                \
            check_fail_at(__FILE__, __LINE__, check_msg_);                           \
        }                                                                            \
    } while (0)

/* Element-wise exact comparison of n floats. Reports the first difference only. */
#define CHECK_FLOATS(got, want, n) check_floats_impl(__FILE__, __LINE__, #got, (got), (want), (n))

static inline void check_floats_impl(const char *file, int line, const char *name, const float *got,
                              const float *want, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        if (got[i] != want[i]) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s[%zu] == %.9g, expected %.9g", name, i,
                     (double)got[i], (double)want[i]);
            check_fail_at(file, line, msg);
            return;
        }
    }
    check_pass();
}

/* Run one test function and say whether it added failures. */
#define RUN(test) check_run(#test, test)

static inline void check_run(const char *name, void (*test)(void)) {
    long before = __atomic_load_n(&check_failures, __ATOMIC_RELAXED);
    long after;
    test();
    after = __atomic_load_n(&check_failures, __ATOMIC_RELAXED);
    printf("%s %s\n", after == before ? "ok  " : "FAIL", name);
    fflush(stdout);
}

/* Print the program's totals; the result is the process exit status. */
static inline int check_summary(const char *program) {
    long passes = __atomic_load_n(&check_passes, __ATOMIC_RELAXED);
    long failures = __atomic_load_n(&check_failures, __ATOMIC_RELAXED);
    printf("%s: %ld checks passed, %ld failed\n", program, passes, failures);
    return (failures == 0 && passes > 0) ? 0 : 1;
}

#endif /* MXKV_CHECK_H */
