#ifndef RTP_UP_H
#define RTP_UP_H
/* `rtp up [OPTIONS]`: argv[0] is "up". Returns the exit status. */
int up_main(int argc, char **argv);
#endif
