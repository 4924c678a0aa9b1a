/* version.c: the version string every program prints for --version. */
#include "carrot/version.h"

#include "revision.h" /* generated at each build by libcarrot/revision.cmake */

#ifndef CARROT_PROJECT_VERSION
#error "CARROT_PROJECT_VERSION comes from CMake's project(VERSION)"
#endif

const char *carrot_version(void) { return CARROT_PROJECT_VERSION " (git " CARROT_REVISION ")"; }
const char *carrot_version_number(void) { return CARROT_PROJECT_VERSION; }
const char *carrot_version_revision(void) { return CARROT_REVISION; }
