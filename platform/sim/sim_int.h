/* Internals shared by the simulated port's files: seeded random streams and
 * the reset of clocks, randomness and the log sink. */
#ifndef ED_PLATFORM_SIM_SIM_INT_H
#define ED_PLATFORM_SIM_SIM_INT_H

#include "platform/base.h"

/* xoshiro256** state seeded through splitmix64. */
struct ed_sim_rng {
    uint64_t s[4];
};
void ed_sim_rng_seed(struct ed_sim_rng *r, uint64_t seed);
uint64_t ed_sim_rng_next(struct ed_sim_rng *r);
/* Uniform in [0, n); 0 when n == 0. */
uint64_t ed_sim_rng_below(struct ed_sim_rng *r, uint64_t n);

/* Resets clocks, the ed_plat_random stream and the log sink (sys.c). */
void ed_sim_sys_reset(uint64_t seed);
/* Frees the log buffer (sys.c). */
void ed_sim_sys_shutdown(void);

#endif
