// tmpl_builtin: chat templates chosen by name (--chat-template chatml), for
// models whose GGUF carries no template or a wrong one. Each is our own
// rendering of the family's published prompt format, written for this
// interpreter; they read messages, add_generation_prompt, bos_token and
// eos_token, and print a missing content as empty.
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "template/tmpl_internal.h"

// The leading system message, taken out of `messages` (Llama 2, Mistral,
// Gemma and Vicuna have no system turn of their own).
#define TAKE_SYSTEM                                                                          \
  "{%- if messages and messages[0].role == 'system' -%}"                                     \
  "{%- set system = messages[0].content -%}{%- set messages = messages[1:] -%}{%- endif -%}"

static const struct {
  const char *name, *source;
} builtins[] = {
    {"chatml",
     "{%- for message in messages -%}"
     "{{- '<|im_start|>' ~ message.role ~ '\\n' ~ message.content ~ '<|im_end|>\\n' -}}"
     "{%- endfor -%}"
     "{%- if add_generation_prompt -%}{{- '<|im_start|>assistant\\n' -}}{%- endif -%}"},
    {"llama3",
     "{{- bos_token -}}"
     "{%- for message in messages -%}"
     "{{- '<|start_header_id|>' ~ message.role ~ '<|end_header_id|>\\n\\n' ~ message.content | trim ~ '<|eot_id|>' -}}"
     "{%- endfor -%}"
     "{%- if add_generation_prompt -%}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}{%- endif -%}"},
    {"llama2",
     TAKE_SYSTEM
     "{%- for message in messages -%}"
     "{%- if message.role == 'user' -%}"
     "{{- bos_token ~ '[INST] ' -}}"
     "{%- if loop.first and system is defined -%}{{- '<<SYS>>\\n' ~ system ~ '\\n<</SYS>>\\n\\n' -}}{%- endif -%}"
     "{{- message.content | trim ~ ' [/INST]' -}}"
     "{%- elif message.role == 'assistant' -%}{{- ' ' ~ message.content | trim ~ ' ' ~ eos_token -}}"
     "{%- endif -%}"
     "{%- endfor -%}"},
    {"mistral",
     "{{- bos_token -}}" TAKE_SYSTEM
     "{%- for message in messages -%}"
     "{%- if message.role == 'user' -%}"
     "{{- '[INST] ' -}}{%- if loop.first and system is defined -%}{{- system ~ '\\n\\n' -}}{%- endif -%}"
     "{{- message.content ~ ' [/INST]' -}}"
     "{%- elif message.role == 'assistant' -%}{{- ' ' ~ message.content ~ eos_token -}}"
     "{%- endif -%}"
     "{%- endfor -%}"},
    {"gemma",
     "{{- bos_token -}}" TAKE_SYSTEM
     "{%- for message in messages -%}"
     "{%- set role = 'model' if message.role == 'assistant' else message.role -%}"
     "{{- '<start_of_turn>' ~ role ~ '\\n' -}}"
     "{%- if loop.first and system is defined -%}{{- system ~ '\\n\\n' -}}{%- endif -%}"
     "{{- message.content | trim ~ '<end_of_turn>\\n' -}}"
     "{%- endfor -%}"
     "{%- if add_generation_prompt -%}{{- '<start_of_turn>model\\n' -}}{%- endif -%}"},
    {"phi3",
     "{%- for message in messages -%}"
     "{{- '<|' ~ message.role ~ '|>\\n' ~ message.content ~ '<|end|>\\n' -}}"
     "{%- endfor -%}"
     "{%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- else -%}{{- eos_token -}}{%- endif -%}"},
    {"zephyr",
     "{%- for message in messages -%}"
     "{{- '<|' ~ message.role ~ '|>\\n' ~ message.content ~ eos_token ~ '\\n' -}}"
     "{%- endfor -%}"
     "{%- if add_generation_prompt -%}{{- '<|assistant|>\\n' -}}{%- endif -%}"},
    {"vicuna",
     TAKE_SYSTEM "{%- if system is defined -%}{{- system ~ '\\n\\n' -}}{%- endif -%}"
     "{%- for message in messages -%}"
     "{%- if message.role == 'user' -%}{{- 'USER: ' ~ message.content ~ '\\n' -}}"
     "{%- elif message.role == 'assistant' -%}{{- 'ASSISTANT: ' ~ message.content ~ eos_token ~ '\\n' -}}"
     "{%- endif -%}"
     "{%- endfor -%}"
     "{%- if add_generation_prompt -%}{{- 'ASSISTANT:' -}}{%- endif -%}"},
};

#define NBUILTINS (sizeof builtins / sizeof builtins[0])

const char *tmpl_builtin(const char *name) {
  for (size_t i = 0; name && i < NBUILTINS; i++)
    if (!strcasecmp(builtins[i].name, name)) return builtins[i].source;
  return NULL;
}

const char *const *tmpl_builtin_names(void) {
  static const char *names[NBUILTINS + 1];
  for (size_t i = 0; i < NBUILTINS; i++) names[i] = builtins[i].name;  // same values on every call: race-free
  return names;
}

static char *read_template_file(FILE *f, const char *path) {
  char *buf = malloc(TMPL_MAX_SOURCE + 1);
  if (!buf) return err_set("chat template %s: out of memory", path), NULL;
  size_t n = fread(buf, 1, TMPL_MAX_SOURCE + 1, f);
  if (ferror(f) || n > TMPL_MAX_SOURCE) {
    err_set(n > TMPL_MAX_SOURCE ? "chat template %s: larger than %u bytes" : "chat template %s: read error", path,
            TMPL_MAX_SOURCE);
    free(buf);
    return NULL;
  }
  buf[n] = 0;
  return buf;
}

char *tmpl_load_source(const char *name_or_path) {
  const char *src = tmpl_builtin(name_or_path);
  if (src) {
    char *copy = strdup(src);
    if (!copy) err_set("chat template: out of memory");
    return copy;
  }
  FILE *f = name_or_path ? fopen(name_or_path, "rb") : NULL;
  if (!f) {
    char names[256] = "";
    for (size_t i = 0; i < NBUILTINS; i++)
      snprintf(names + strlen(names), sizeof names - strlen(names), "%s%s", i ? ", " : "", builtins[i].name);
    err_set("chat template '%s': no such built-in (%s) and no such file", name_or_path ? name_or_path : "", names);
    return NULL;
  }
  char *text = read_template_file(f, name_or_path);
  fclose(f);
  return text;
}
