"""mbedtls/error.h: strerror.  The MBEDTLS_ERR_* constants themselves are
read from every header of the pinned source by csrc/mbedtls_build.py."""

INCLUDES = """
#include "mbedtls/error.h"
"""

TYPES = """
"""

FUNCTIONS = """
void mbedtls_strerror(int errnum, char *buffer, size_t buflen);
const char *mbedtls_high_level_strerr(int error_code);
const char *mbedtls_low_level_strerr(int error_code);
"""
