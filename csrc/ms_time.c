/*
 * mbedtls-py: the harness's mbedtls_ms_time().  Linked into the extension
 * only (with -Wl,--wrap=mbedtls_ms_time, csrc/mbedtls_build.py); the native
 * benchmark driver links glue.c alone and keeps Mbed TLS's own clock.
 */
#include "glue.h"
#include "compat.h"

/* mbedtls_ms_time(): TLS 1.2 session tickets record their creation time with
 * it, so the harness owns it too.  The extension is linked with
 * -Wl,--wrap=mbedtls_ms_time (csrc/mbedtls_build.py): every call from the library
 * lands here and reads a value set by the harness (virtual milliseconds), or
 * Mbed TLS's own clock when none is set (-1).  The static library and its
 * configuration are unchanged, so other programs linked with it are too. */
/* Per thread, like mbedtls_time (glue.c): Mbed TLS reads it on the calling thread. */
static MPY_THREAD_LOCAL int64_t fixed_ms_time = -1;

mbedtls_ms_time_t __real_mbedtls_ms_time(void);
mbedtls_ms_time_t __wrap_mbedtls_ms_time(void);

void mpy_set_ms_time(int64_t ms)
{
    fixed_ms_time = ms < 0 ? -1 : ms;
}

mbedtls_ms_time_t __wrap_mbedtls_ms_time(void)
{
    int64_t now = fixed_ms_time;
    return now >= 0 ? (mbedtls_ms_time_t) now : __real_mbedtls_ms_time();
}
