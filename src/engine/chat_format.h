// chat_format: the built-in chat formats of the common model families, for
// `llmux chat`. The family is recognised from the model's chat template
// (tokenizer.chat_template); the full Jinja interpreter arrives with the
// server and will replace this for arbitrary templates.
#ifndef LLMUX_CHAT_FORMAT_H
#define LLMUX_CHAT_FORMAT_H
#include <stddef.h>

typedef enum { CHAT_PLAIN = 0, CHAT_CHATML, CHAT_LLAMA3, CHAT_MISTRAL, CHAT_GEMMA, CHAT_PHI3, CHAT_LLAMA2 } chat_family;

chat_family chat_family_detect(const char *chat_template);
const char *chat_family_name(chat_family f);
// Appends one message (role "system", "user" or "assistant") to out, and
// with add_generation_prompt the opening of the assistant's reply.
// Returns the bytes written, or -1 if they do not fit. Mistral and Llama 2
// have no system turn: fold the system text into the first user message.
int chat_format_turn(chat_family f, const char *role, const char *content, int add_generation_prompt, char *out,
                     size_t size);

#endif
