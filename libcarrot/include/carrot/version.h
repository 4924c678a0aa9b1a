/* version.h: which Carrot this is: the CMake project version, and the git
 * revision it was built from ("unknown" outside a git checkout). */
#ifndef CARROT_VERSION_H
#define CARROT_VERSION_H

/* "0.1.0 (git 1a2b3c4d5e6f)" or "0.1.0 (git 1a2b3c4d5e6f-dirty)": a static string. */
const char *carrot_version(void);
/* The parts: "0.1.0" and "1a2b3c4d5e6f" (or "unknown"); static strings. */
const char *carrot_version_number(void);
const char *carrot_version_revision(void);

#endif
