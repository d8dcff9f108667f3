// chat_format: see chat_format.h.
#include "engine/chat_format.h"

#include <stdio.h>
#include <string.h>

chat_family chat_family_detect(const char *t) {
  if (!t) return CHAT_PLAIN;
  if (strstr(t, "<|start_header_id|>")) return CHAT_LLAMA3;
  if (strstr(t, "<|im_start|>")) return CHAT_CHATML;
  if (strstr(t, "<start_of_turn>")) return CHAT_GEMMA;
  if (strstr(t, "<|user|>") && strstr(t, "<|end|>")) return CHAT_PHI3;
  if (strstr(t, "[INST]") && strstr(t, "<<SYS>>")) return CHAT_LLAMA2;
  if (strstr(t, "[INST]")) return CHAT_MISTRAL;
  return CHAT_CHATML;  // the most common convention among other templates
}

const char *chat_family_name(chat_family f) {
  static const char *names[] = {"plain", "chatml", "llama3", "mistral", "gemma", "phi3", "llama2"};
  return names[f];
}

static int turn_text(chat_family f, const char *role, const char *c, char *out, size_t size) {
  int user = !strcmp(role, "user"), sys = !strcmp(role, "system");
  switch (f) {
  case CHAT_CHATML: return snprintf(out, size, "<|im_start|>%s\n%s<|im_end|>\n", role, c);
  case CHAT_LLAMA3: return snprintf(out, size, "<|start_header_id|>%s<|end_header_id|>\n\n%s<|eot_id|>", role, c);
  case CHAT_GEMMA:  // Gemma has no system role: the system text opens the user turn.
    if (sys) return snprintf(out, size, "<start_of_turn>user\n%s\n\n", c);
    return snprintf(out, size, "<start_of_turn>%s\n%s<end_of_turn>\n", user ? "user" : "model", c);
  case CHAT_PHI3: return snprintf(out, size, "<|%s|>\n%s<|end|>\n", role, c);
  case CHAT_MISTRAL:
  case CHAT_LLAMA2:  // no system turn of their own: callers fold it into the first user message
    if (user || sys) return snprintf(out, size, "[INST] %s [/INST]", c);
    return snprintf(out, size, " %s</s>", c);
  default:
    return snprintf(out, size, "%s: %s\n", user ? "User" : sys ? "System" : "Assistant", c);
  }
}

static const char *reply_opening(chat_family f) {
  switch (f) {
  case CHAT_CHATML: return "<|im_start|>assistant\n";
  case CHAT_LLAMA3: return "<|start_header_id|>assistant<|end_header_id|>\n\n";
  case CHAT_GEMMA: return "<start_of_turn>model\n";
  case CHAT_PHI3: return "<|assistant|>\n";
  case CHAT_MISTRAL:
  case CHAT_LLAMA2: return "";
  default: return "Assistant:";
  }
}

int chat_format_turn(chat_family f, const char *role, const char *content, int add_generation_prompt, char *out,
                     size_t size) {
  int n = turn_text(f, role, content, out, size);
  if (n < 0 || (size_t)n >= size) return -1;
  if (add_generation_prompt) {
    int m = snprintf(out + n, size - (size_t)n, "%s", reply_opening(f));
    if (m < 0 || (size_t)(n + m) >= size) return -1;
    n += m;
  }
  return n;
}
