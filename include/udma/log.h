/* SPDX-License-Identifier: MIT */
/* Where the library's own reports go. */
#ifndef UDMA_LOG_H
#define UDMA_LOG_H

#ifdef __cplusplus
extern "C" {
#endif

/* The levels are syslog's, so a callback may hand them to syslog(3) as they are. */
#define UDMA_LOG_ERR   3 /* a misuse caught, a device lost, a step of a teardown that failed */
#define UDMA_LOG_WARN  4 /* the library cleaned up after the program (a leak at a destroy) */
#define UDMA_LOG_INFO  6 /* the library recovered on its own (a dead process's pool objects) */
#define UDMA_LOG_DEBUG 7 /* none yet */

typedef void (*udma_log_fn)(void *arg, int level, const char *msg);

#pragma GCC visibility push(default)

/*
 * The library writes nothing on its own except through this: a pool
 * destroyed with objects out, a heap with blocks never freed, a region,
 * pool or device still alive at udma_ctx_destroy, a misuse caught (a double
 * free; in debug mode a double put, an overrun), the objects of a process
 * that died recovered by a shared pool, a device that stopped or
 * went away, a teardown step that failed. Failures of calls are not logged: they are in
 * the return value and udma_last_error().
 *
 * By default each report is one line on stderr: "udma: " MSG "\n". After
 * udma_set_log(fn, arg), fn(arg, level, msg) gets each report instead; msg
 * has no "udma: " prefix and no trailing newline, is at most 1023 bytes and
 * is valid during the call only. udma_set_log(NULL, NULL) restores stderr.
 *
 * The setting is process-wide. fn is called on the thread that made the
 * report: usually the one inside the udma call that found it (udma_pool_destroy,
 * udma_ctx_destroy, udma_free, ...), sometimes one of the library's own
 * threads (the monitor of a device in udma-simd, on a 256 KiB stack);
 * several threads may be inside fn at once, so fn must be thread-safe. fn
 * must not block for long. It may call udma
 * functions, but none on the object the report is about (it may be half torn
 * down, or its lock held) and none that would report again without end; what
 * they leave in errno and udma_last_error() is undone when fn returns.
 *
 * fn must return: no longjmp out of it, no C++ exception through it (udma
 * counts the call as under way until it returns).
 *
 * udma_set_log is thread-safe. When it returns, no thread is inside the
 * previous fn any more (it waits for those calls, never for calls of the new
 * fn), so the previous arg may be freed. Called from inside fn it still
 * takes effect, but does not wait.
 *
 * fork: a child inherits the setting, so fn runs in the child, with the
 * child's copy of arg, for the reports the child makes.
 */
void udma_set_log(udma_log_fn fn, void *arg);

#pragma GCC visibility pop

#ifdef __cplusplus
}
#endif
#endif
