// api/register: `llmux serve --register GATEWAY --advertise MY_URL`: a thread
// that tells the gateway which models this server has, at once and then
// every third of the registration's lifetime (the gateway answers with it),
// so the gateway drops the server soon after it stops.
#include "api/register.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/log.h"

struct serve_registration {
  serve *srv;
  char *gateway, *advertise, *key;
  pthread_t thread;
  pthread_mutex_t mu;
  pthread_cond_t cv;
  bool stopping;
  double interval_s;
};

static void add_id(serve_model *m, void *user) { json_array_append_new(user, json_string(m->id)); }

static size_t collect(char *p, size_t s, size_t n, void *user) {
  json_t **out = user;
  json_t *j = json_loadb(p, s * n, 0, NULL);  // the answer is small and arrives in one piece
  if (j) {
    json_decref(*out);
    *out = j;
  }
  return s * n;
}

// One registration; returns the lifetime the gateway grants (0 on failure).
static double register_once(serve_registration *r) {
  json_t *models = json_array();
  serve_each_model(r->srv, add_id, models);
  json_t *body = json_pack("{s:s,s:s,s:o}", "url", r->advertise, "name", r->advertise, "models", models);
  char *text = json_dumps(body, JSON_COMPACT), url[2048], auth[600];
  json_decref(body);
  snprintf(url, sizeof url, "%s/admin/registry", r->gateway);
  CURL *h = curl_easy_init();
  struct curl_slist *hdr = curl_slist_append(NULL, "Content-Type: application/json");
  if (r->key) {
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", r->key);
    hdr = curl_slist_append(hdr, auth);
  }
  json_t *answer = NULL;
  long code = 0;
  if (h && text) {
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, text);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 5L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &answer);
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
  }
  double ttl = code == 200 ? json_number_value(json_object_get(answer, "ttl_s")) : 0;
  if (code != 200) log_warn("serve: registering with %s failed (HTTP %ld); retrying", r->gateway, code);
  json_decref(answer);
  curl_slist_free_all(hdr);
  if (h) curl_easy_cleanup(h);
  free(text);
  return ttl;
}

static void *register_main(void *arg) {
  serve_registration *r = arg;
  pthread_mutex_lock(&r->mu);
  while (!r->stopping) {
    pthread_mutex_unlock(&r->mu);
    double ttl = register_once(r);
    double wait = ttl > 0 ? ttl / 3 : 1;
    pthread_mutex_lock(&r->mu);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double end = (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9 + wait;
    ts.tv_sec = (time_t)end;
    ts.tv_nsec = (long)((end - (double)ts.tv_sec) * 1e9);
    if (!r->stopping) pthread_cond_timedwait(&r->cv, &r->mu, &ts);
  }
  pthread_mutex_unlock(&r->mu);
  return NULL;
}

serve_registration *serve_register_start(serve *s, const char *gateway, const char *advertise, const char *key) {
  serve_registration *r = calloc(1, sizeof *r);
  if (!r) return NULL;
  r->srv = s;
  r->gateway = strdup(gateway);
  r->advertise = strdup(advertise);
  r->key = key ? strdup(key) : NULL;
  size_t n = strlen(r->gateway);
  while (n > 0 && r->gateway[n - 1] == '/') r->gateway[--n] = 0;
  pthread_mutex_init(&r->mu, NULL);
  pthread_cond_init(&r->cv, NULL);
  if (pthread_create(&r->thread, NULL, register_main, r) != 0) {
    serve_register_stop(r);
    return NULL;
  }
  return r;
}

void serve_register_stop(serve_registration *r) {
  if (!r) return;
  pthread_mutex_lock(&r->mu);
  bool running = !r->stopping && r->thread;
  r->stopping = true;
  pthread_cond_broadcast(&r->cv);
  pthread_mutex_unlock(&r->mu);
  if (running) pthread_join(r->thread, NULL);
  pthread_mutex_destroy(&r->mu);
  pthread_cond_destroy(&r->cv);
  free(r->gateway);
  free(r->advertise);
  free(r->key);
  free(r);
}
