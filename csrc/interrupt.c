/* interrupt.c - the SIGINT flag and an interruptible sleep (see interrupt.h). */
#include "interrupt.h"

#include <errno.h>
#include <signal.h>
#include <string.h>
#include <time.h>

static volatile sig_atomic_t interrupt_flag = 0;
static volatile sig_atomic_t installed = 0;

static void on_sigint(int sig)
{
    (void)sig;
    interrupt_flag = 1;
}

int af_interrupt_install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: poll and nanosleep return EINTR */
    if (sigaction(SIGINT, &sa, NULL) != 0)
        return -1;
    installed = 1;
    return 0;
}

int af_interrupt_installed(void)
{
    return installed;
}

int af_interrupted(void)
{
    return interrupt_flag;
}

int af_sleep(double seconds)
{
    struct timespec ts;
    if (interrupt_flag)
        return -1;
    if (!(seconds > 0))
        return 0;
    ts.tv_sec = (time_t)seconds;
    ts.tv_nsec = (long)((seconds - (double)ts.tv_sec) * 1e9);
    while (nanosleep(&ts, &ts) != 0) {
        if (errno != EINTR || interrupt_flag)
            return interrupt_flag ? -1 : 0;
        /* another signal: sleep the rest */
    }
    return 0;
}
