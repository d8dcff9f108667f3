// yaml_json: reads a YAML document (libyaml) into a jansson value, so that
// configuration files are checked field by field with the same helpers as
// JSON request bodies. Plain scalars follow YAML 1.2's core schema (null,
// true/false, integers, floats, else strings); quoted scalars stay strings.
// Never expands without bound: depth and value counts are capped (aliases
// count each time they are used), each cap a clear error.
#ifndef LLMUX_YAML_JSON_H
#define LLMUX_YAML_JSON_H
#include <jansson.h>
#include <stddef.h>

// NULL with a one-line error ("line 3, column 5: ...") on failure.
json_t *yaml_to_json(const char *text, size_t len, char *err, size_t err_size);

#endif
