/* Internals shared by the POSIX port's files. */
#ifndef ED_PLATFORM_POSIX_POSIX_INT_H
#define ED_PLATFORM_POSIX_POSIX_INT_H

/* Translates an errno value into an ed_err. */
int ed_posix_err(int e);

#endif
