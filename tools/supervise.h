#ifndef RTP_SUPERVISE_H
#define RTP_SUPERVISE_H
/* `rtp supervise [OPTIONS]`: argv[0] is "supervise". Returns the exit status. */
int supervise_main(int argc, char **argv);
#endif
