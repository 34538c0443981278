"""mbedtls/version.h."""

INCLUDES = """
#include "mbedtls/version.h"
"""

TYPES = """
#define MBEDTLS_VERSION_NUMBER ...
"""

FUNCTIONS = """
unsigned int mbedtls_version_get_number(void);
void mbedtls_version_get_string(char *string);
int mbedtls_version_check_feature(const char *feature);
"""
