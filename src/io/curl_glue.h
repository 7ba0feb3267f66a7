/*
 * io/curl_glue.h — drives a libcurl multi handle from the reactor.
 *
 * libcurl runs its transfers on a loop it does not own (the multi_socket API,
 * as curl's docs/examples/ephiperfifo.c does with epoll): it says which sockets
 * to watch (CURLMOPT_SOCKETFUNCTION → io_poll_add/mod/del, level-triggered)
 * and when to call it back (CURLMOPT_TIMERFUNCTION → io_timer_set/cancel). On
 * readiness or at the timeout the glue calls curl_multi_socket_action(), then
 * reads curl_multi_info_read() and hands each finished transfer to done_cb.
 * Every call into libcurl happens on a reactor turn, never inside a libcurl
 * callback: a timeout of 0 means "on the next turn".
 *
 * The API list+watch streams, API writes and the CRI client (HTTP/2) all ride
 * one multi handle attached here.
 */
#ifndef LEDGERLET_IO_CURL_GLUE_H
#define LEDGERLET_IO_CURL_GLUE_H

#include <curl/curl.h>

#include "io/reactor.h"

struct io_curl;

/*
 * Takes over multi's CURLMOPT_SOCKETFUNCTION/SOCKETDATA and
 * CURLMOPT_TIMERFUNCTION/TIMERDATA, and schedules a first
 * curl_multi_socket_action(CURL_SOCKET_TIMEOUT) for the next turn, so handles
 * added before attaching start too.
 *
 * done_cb runs on a reactor turn for each CURLMSG_DONE. msg (and
 * msg->easy_handle) stays valid until done_cb removes or cleans up that easy
 * handle, which it may do; it may also add handles, or call io_curl_detach().
 *
 * 0 or a negative errno (-ENOMEM, -EINVAL). The caller keeps owning multi and
 * its easy handles, and must detach before curl_multi_cleanup(); *out is the
 * caller's until io_curl_detach().
 */
int io_curl_attach(struct io_reactor *r, CURLM *multi, void (*done_cb)(void *arg, CURLMsg *msg),
                   void *arg, struct io_curl **out);

/*
 * Stops driving the multi handle: its sockets' polls and its timer are dropped
 * and its callbacks unset, so no glue callback (nor done_cb) runs afterwards.
 * Transfers in progress stay in the multi handle, stalled. NULL is a no-op.
 */
void io_curl_detach(struct io_curl *g);

#endif
