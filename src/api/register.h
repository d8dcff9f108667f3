// api/register: a serve process announcing itself to a gateway
// (`llmux serve --register GATEWAY_URL --advertise MY_URL`), with heartbeats
// until it stops. See register.c.
#ifndef LLMUX_API_REGISTER_H
#define LLMUX_API_REGISTER_H
#include "api/serve.h"

typedef struct serve_registration serve_registration;

// key: the gateway's registry (or admin) key, or NULL.
serve_registration *serve_register_start(serve *s, const char *gateway, const char *advertise, const char *key);
void serve_register_stop(serve_registration *r);

#endif
