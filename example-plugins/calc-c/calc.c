// calc: a Coral plugin in C (bindings from `wit-bindgen c` 0.63, built with clang 19 into a component).
//
// Commands, in private chats and groups (answers quote your message, and @-mention you in groups):
//   calc EXPR      evaluate + - * / % ^ ( ) and unary minus, e.g. `calc 2*(3+4)^2` -> `2*(3+4)^2 = 98`;
//                  mistakes (division by zero, bad input) are answered with a face and the reason
//   ping X         answers `pong X (c)`
//   shout TEXT     sends TEXT to the whole group with an @all; needs the `at-all` grant, and shows the host's
//                  error value (`cannot shout: permission-denied (102)`) when it is not granted
// Poke the bot (a `notify/poke` notice aimed at it) and it introduces itself.
//
// Memory ownership (wit-bindgen's C rules, followed throughout this file):
//   1. Arguments the host passes to our exports (`event`, `config_json`, `call`, `reply`) are ours: free them
//      before returning (`plugin_event_free`, `plugin_string_free`, `plugin_invocation_free`,
//      `plugin_prompt_reply_free`). Their strings are NOT NUL-terminated: use `.ptr` + `.len`.
//   2. What our exports return (the metadata, an error string) must be heap memory (`plugin_string_dup`, malloc):
//      the bindings free it once the host has copied it (the `cabi_post_*` functions). Never return a literal.
//   3. Arguments we pass to imports stay ours and are only borrowed by the call: literals and stack buffers are
//      fine (`plugin_string_set` makes a view without copying).
//   4. What imports hand back (`ret`, `err`) was allocated for us: free it (`plugin_string_free`,
//      `coral_bot_types_error_free`, the generated `..._free` for records and lists).

#include "plugin.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- The calculator: a recursive-descent parser over doubles, no host calls. ------------------------------- */

/* How deep parentheses, unary signs and powers may nest: bounds the recursion (wasm-ld gives a program a 64 KiB
 * stack by default, and a hostile `((((…` must not exhaust it). */
#define CALC_MAX_DEPTH 64

typedef struct {
    const char *text; /* the expression (not NUL-terminated) */
    size_t len;
    size_t pos;
    int depth;
    char error[96]; /* set on the first error; parsing stops there */
} parser;

static double parse_sum(parser *p);

static bool failed(const parser *p) { return p->error[0] != '\0'; }

__attribute__((format(printf, 2, 3))) static double fail(parser *p, const char *fmt, ...) {
    if (!failed(p)) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(p->error, sizeof p->error, fmt, args);
        va_end(args);
    }
    return 0;
}

/* How many bytes of `text[0..len)` to show when at most `max` fit, without cutting a UTF-8 sequence in two (the
 * host only accepts valid UTF-8: a cut character would make the call trap). */
static int utf8_prefix(const char *text, size_t len, size_t max) {
    if (len <= max) return (int)len;
    while (max > 0 && ((unsigned char)text[max] & 0xC0) == 0x80) max--;
    return (int)max;
}

/* The length of the UTF-8 character starting at `text` (at most `left` bytes). */
static int utf8_char_len(const char *text, size_t left) {
    unsigned char lead = (unsigned char)text[0];
    size_t n = lead < 0x80 ? 1 : lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    return (int)(n < left ? n : left);
}

static void skip_space(parser *p) {
    while (p->pos < p->len && isspace((unsigned char)p->text[p->pos])) p->pos++;
}

/* The next non-space character, or 0 at the end. */
static char peek(parser *p) {
    skip_space(p);
    return p->pos < p->len ? p->text[p->pos] : 0;
}

static bool enter(parser *p) {
    if (++p->depth > CALC_MAX_DEPTH) {
        fail(p, "too deeply nested (more than %d levels)", CALC_MAX_DEPTH);
        return false;
    }
    return true;
}

static double parse_unary(parser *p);

/* number | '(' sum ')' */
static double parse_atom(parser *p) {
    char c = peek(p);
    if (c == '(') {
        p->pos++;
        if (!enter(p)) return 0;
        double value = parse_sum(p);
        p->depth--;
        if (failed(p)) return 0;
        if (peek(p) != ')') return fail(p, "missing ')' at position %zu", p->pos + 1);
        p->pos++;
        return value;
    }
    if (isdigit((unsigned char)c) || c == '.') {
        char buf[64];
        size_t n = 0;
        while (p->pos < p->len && n + 1 < sizeof buf &&
               (isdigit((unsigned char)p->text[p->pos]) || p->text[p->pos] == '.'))
            buf[n++] = p->text[p->pos++];
        buf[n] = '\0';
        char *end;
        double value = strtod(buf, &end);
        if (*end != '\0' || n == 0) return fail(p, "bad number '%s'", buf);
        return value;
    }
    if (c == 0) return fail(p, "the expression ends too early");
    return fail(p, "unexpected '%.*s' at position %zu", utf8_char_len(p->text + p->pos, p->len - p->pos),
                p->text + p->pos, p->pos + 1);
}

/* atom ('^' unary)?   -- right-associative, and binds tighter than a leading minus: -2^2 = -4, 2^-1 = 0.5 */
static double parse_power(parser *p) {
    double base = parse_atom(p);
    if (failed(p) || peek(p) != '^') return base;
    p->pos++;
    if (!enter(p)) return 0;
    double exponent = parse_unary(p);
    p->depth--;
    return failed(p) ? 0 : pow(base, exponent);
}

/* ('-' | '+')* power */
static double parse_unary(parser *p) {
    char c = peek(p);
    if (c == '-' || c == '+') {
        p->pos++;
        if (!enter(p)) return 0;
        double value = parse_unary(p);
        p->depth--;
        return c == '-' ? -value : value;
    }
    return parse_power(p);
}

/* unary (('*' | '/' | '%') unary)* */
static double parse_product(parser *p) {
    double value = parse_unary(p);
    for (char op; !failed(p) && ((op = peek(p)) == '*' || op == '/' || op == '%');) {
        p->pos++;
        double rhs = parse_unary(p);
        if (failed(p)) break;
        if (op == '*') value *= rhs;
        else if (rhs == 0) return fail(p, "division by zero");
        else value = op == '/' ? value / rhs : fmod(value, rhs);
    }
    return value;
}

/* product (('+' | '-') product)* */
static double parse_sum(parser *p) {
    double value = parse_product(p);
    for (char op; !failed(p) && ((op = peek(p)) == '+' || op == '-');) {
        p->pos++;
        double rhs = parse_product(p);
        value = op == '+' ? value + rhs : value - rhs;
    }
    return value;
}

/* Evaluate `text[0..len)`. On success writes the result into `out` and returns true; otherwise writes the
 * error into `out`. */
static bool calc_eval(const char *text, size_t len, char *out, size_t out_len) {
    parser p = {.text = text, .len = len};
    double value = parse_sum(&p);
    if (!failed(&p) && peek(&p) != 0)
        fail(&p, "unexpected '%.*s' at position %zu", utf8_char_len(p.text + p.pos, p.len - p.pos), p.text + p.pos,
             p.pos + 1);
    if (!failed(&p) && !isfinite(value)) fail(&p, "the result is not a finite number");
    if (failed(&p)) {
        snprintf(out, out_len, "%s", p.error);
        return false;
    }
    if (value == 0) value = 0; /* no "-0" */
    if (value == floor(value) && fabs(value) < 1e15) snprintf(out, out_len, "%.0f", value);
    else snprintf(out, out_len, "%.10g", value);
    return true;
}

/* ---- Small helpers over the generated types. -------------------------------------------------------------- */

/* A borrowed view of a NUL-terminated string, for import arguments (rule 3). */
static plugin_string_t str(const char *s) {
    plugin_string_t out;
    plugin_string_set(&out, s);
    return out;
}

static coral_bot_types_segment_t text_segment(const char *s) {
    return (coral_bot_types_segment_t){.tag = CORAL_BOT_TYPES_SEGMENT_TEXT, .val.text = str(s)};
}

static coral_bot_types_segment_t face_segment(const char *id) {
    return (coral_bot_types_segment_t){.tag = CORAL_BOT_TYPES_SEGMENT_FACE, .val.face = str(id)};
}

/* Face 32 is QQ's "疑问" (puzzled): shown in front of every answer to a mistake. */
#define PUZZLED_FACE "32"

/* Whether `s` (not NUL-terminated) starts with the word `word` followed by a space or the end; on a match `rest`
 * is what follows, leading spaces skipped. */
static bool command(plugin_string_t s, const char *word, plugin_string_t *rest) {
    size_t n = strlen(word);
    if (s.len < n || memcmp(s.ptr, word, n) != 0 || (s.len > n && s.ptr[n] != ' ')) return false;
    size_t i = n;
    while (i < s.len && s.ptr[i] == ' ') i++;
    *rest = (plugin_string_t){s.ptr + i, s.len - i};
    return true;
}

static bool same(plugin_string_t a, plugin_string_t b) {
    return a.len == b.len && memcmp(a.ptr, b.ptr, a.len) == 0;
}

/* The WIT name of an error code, as the host documents it in `wit/types.wit`. */
static const char *error_code_name(coral_bot_types_error_code_t code) {
    switch (code) {
        case CORAL_BOT_TYPES_ERROR_CODE_INVALID_ARGUMENT: return "invalid-argument";
        case CORAL_BOT_TYPES_ERROR_CODE_PERMISSION_DENIED: return "permission-denied";
        case CORAL_BOT_TYPES_ERROR_CODE_OPERATION_FAILED: return "operation-failed";
        case CORAL_BOT_TYPES_ERROR_CODE_SEND_FAILED: return "send-failed";
        case CORAL_BOT_TYPES_ERROR_CODE_BUSY: return "busy";
        case CORAL_BOT_TYPES_ERROR_CODE_TIMEOUT: return "timeout";
        case CORAL_BOT_TYPES_ERROR_CODE_UNSUPPORTED: return "unsupported";
        case CORAL_BOT_TYPES_ERROR_CODE_RATE_LIMITED: return "rate-limited";
        case CORAL_BOT_TYPES_ERROR_CODE_BOT_UNAVAILABLE: return "bot-unavailable";
        default: return "unknown";
    }
}

static void log_line(coral_bot_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void log_line(coral_bot_log_level_t level, const char *fmt, ...) {
    char line[256];
    va_list args;
    va_start(args, fmt);
    vsnprintf(line, sizeof line, fmt, args);
    va_end(args);
    plugin_string_t message = str(line);
    coral_bot_log_log(level, &message);
}

/* Log a failed call's error value and free it (rule 4). */
static void log_error(const char *what, coral_bot_types_error_t *err) {
    log_line(CORAL_BOT_LOG_LEVEL_WARN, "%s failed: %s (%d): %.*s", what, error_code_name(err->code), err->retcode,
             (int)err->message.len, (const char *)err->message.ptr);
    coral_bot_types_error_free(err);
}

/* Post `segments` into the chat of message `m`, quoting it, and @-mentioning the sender in a group. If refused,
 * returns false with the host's error value in `err` (the caller frees it). */
static bool reply(plugin_string_t *self_id, coral_bot_types_message_event_t *m, coral_bot_types_segment_t *segments,
                  size_t count, coral_bot_types_error_t *err) {
    bool group = m->message_type == CORAL_BOT_TYPES_CHAT_TYPE_GROUP && m->group_id.is_some;
    coral_bot_types_chat_t chat = group
        ? (coral_bot_types_chat_t){.tag = CORAL_BOT_TYPES_CHAT_GROUP, .val.group = m->group_id.val}
        : (coral_bot_types_chat_t){.tag = CORAL_BOT_TYPES_CHAT_PRIVATE, .val.private_ = m->user_id};
    coral_bot_bot_send_options_t options = {
        .at_sender = {.is_some = group, .val = m->user_id},
        .reply_to = {.is_some = true, .val = m->message_id},
    };
    coral_bot_types_message_t message = {segments, count};
    /* Posted: the host checks it now and sends it without this handler waiting for the platform's answer. */
    return coral_bot_bot_post_msg(self_id, &chat, &message, &options, err);
}

/* Reply with one line of text, optionally behind the puzzled face; a failure is logged. */
static void reply_text(plugin_string_t *self_id, coral_bot_types_message_event_t *m, bool puzzled, const char *text) {
    coral_bot_types_segment_t segments[2];
    size_t n = 0;
    if (puzzled) segments[n++] = face_segment(PUZZLED_FACE);
    segments[n++] = text_segment(text);
    coral_bot_types_error_t err;
    if (!reply(self_id, m, segments, n, &err)) log_error("reply", &err);
}

/* ---- The commands. ----------------------------------------------------------------------------------------- */

static void on_calc(plugin_string_t *self_id, coral_bot_types_message_event_t *m, plugin_string_t expr) {
    char answer[512], result[128];
    if (expr.len == 0) {
        reply_text(self_id, m, true, "usage: calc EXPRESSION, e.g. calc 2*(3+4)^2");
        return;
    }
    bool ok = calc_eval((const char *)expr.ptr, expr.len, result, sizeof result);
    /* Show at most 200 bytes of the expression back. */
    int shown = utf8_prefix((const char *)expr.ptr, expr.len, 200);
    if (ok) snprintf(answer, sizeof answer, "%.*s = %s", shown, (const char *)expr.ptr, result);
    else snprintf(answer, sizeof answer, "cannot calculate %.*s: %s", shown, (const char *)expr.ptr, result);
    reply_text(self_id, m, !ok, answer);
}

static void on_shout(plugin_string_t *self_id, coral_bot_types_message_event_t *m, plugin_string_t text) {
    if (m->message_type != CORAL_BOT_TYPES_CHAT_TYPE_GROUP || !m->group_id.is_some) {
        reply_text(self_id, m, true, "shout works in groups only");
        return;
    }
    char body[512];
    snprintf(body, sizeof body, " %.*s", utf8_prefix((const char *)text.ptr, text.len, 400), (const char *)text.ptr);
    coral_bot_types_segment_t segments[] = {
        {.tag = CORAL_BOT_TYPES_SEGMENT_AT, .val.at = str("all")},
        text_segment(body),
    };
    coral_bot_types_message_t message = {segments, 2};
    plugin_string_t message_id;
    coral_bot_types_error_t err;
    if (coral_bot_bot_send_group_msg(self_id, &m->group_id.val, &message, &message_id, &err)) {
        plugin_string_free(&message_id);
        return;
    }
    /* Without the `at-all` grant the host refuses with an error value (never a trap): show it in the chat. */
    char shown[256];
    snprintf(shown, sizeof shown, "cannot shout: %s (%d)", error_code_name(err.code), err.retcode);
    coral_bot_types_error_free(&err);
    reply_text(self_id, m, false, shown);
}

static void on_message(plugin_string_t *self_id, coral_bot_types_message_event_t *m) {
    plugin_string_t rest;
    if (command(m->plain_text, "calc", &rest)) {
        on_calc(self_id, m, rest);
    } else if (command(m->plain_text, "ping", &rest)) {
        char answer[512];
        int shown = utf8_prefix((const char *)rest.ptr, rest.len, 400);
        snprintf(answer, sizeof answer, "pong %.*s%s(c)", shown, (const char *)rest.ptr, shown ? " " : "");
        reply_text(self_id, m, false, answer);
    } else if (command(m->plain_text, "shout", &rest)) {
        on_shout(self_id, m, rest);
    }
}

/* A poke aimed at the bot: say who we are, into the group (with an @) or the private chat it came from. */
static void on_poke(plugin_string_t *self_id, coral_bot_types_poke_notice_t *poke) {
    if (!same(poke->target_id, *self_id)) return;
    static const char intro[] = "hi! I am calc, a Coral plugin written in C. Try: calc 2*(3+4)^2";
    plugin_string_t message_id;
    coral_bot_types_error_t err;
    bool sent;
    if (poke->group_id.is_some) {
        coral_bot_types_segment_t segments[] = {
            {.tag = CORAL_BOT_TYPES_SEGMENT_AT, .val.at = poke->user_id},
            text_segment(" "),
            text_segment(intro),
        };
        coral_bot_types_message_t message = {segments, 3};
        sent = coral_bot_bot_send_group_msg(self_id, &poke->group_id.val, &message, &message_id, &err);
    } else {
        coral_bot_types_segment_t segments[] = {text_segment(intro)};
        coral_bot_types_message_t message = {segments, 1};
        sent = coral_bot_bot_send_private_msg(self_id, &poke->user_id, &message, &message_id, &err);
    }
    if (sent) plugin_string_free(&message_id);
    else log_error("introduction", &err);
}

/* ---- The exports. ------------------------------------------------------------------------------------------ */

void exports_plugin_metadata(plugin_plugin_metadata_t *ret) {
    /* Everything returned is heap memory the bindings free after the call (rule 2). */
    plugin_string_dup(&ret->name, "calc");
    plugin_string_dup(&ret->version, "0.1.0");
    plugin_string_dup(&ret->description, "a calculator, written in C");
    static const char *const capabilities[] = {"send", "at-all"};
    size_t n = sizeof capabilities / sizeof capabilities[0];
    ret->capabilities.ptr = malloc(n * sizeof(plugin_string_t));
    ret->capabilities.len = n;
    for (size_t i = 0; i < n; i++) plugin_string_dup(&ret->capabilities.ptr[i], capabilities[i]);
    ret->events.ptr = malloc(2 * sizeof(coral_bot_types_event_category_t));
    ret->events.len = 2;
    ret->events.ptr[0] = CORAL_BOT_TYPES_EVENT_CATEGORY_MESSAGE;
    ret->events.ptr[1] = CORAL_BOT_TYPES_EVENT_CATEGORY_NOTICE;
}

bool exports_plugin_setup(plugin_string_t *config_json, plugin_string_t *err) {
    (void)err; /* calc has no settings; a plugin that rejects its config sets `err` (heap) and returns false */
    plugin_string_free(config_json); /* rule 1 */
    log_line(CORAL_BOT_LOG_LEVEL_INFO, "calc (c) ready");
    return true;
}

void exports_plugin_commands(plugin_list_command_spec_t *ret) {
    /* calc reads its words from plain messages itself and declares no host-parsed commands: an empty list. */
    ret->ptr = NULL;
    ret->len = 0;
}

bool exports_plugin_on_event(plugin_event_t *event, plugin_flow_t *ret, plugin_string_t *err) {
    (void)err;
    coral_bot_types_event_kind_t *kind = &event->kind;
    if (kind->tag == CORAL_BOT_TYPES_EVENT_KIND_MESSAGE) {
        on_message(&event->self_id, &kind->val.message);
    } else if (kind->tag == CORAL_BOT_TYPES_EVENT_KIND_NOTICE &&
               kind->val.notice.tag == CORAL_BOT_TYPES_NOTICE_EVENT_POKE) {
        on_poke(&event->self_id, &kind->val.notice.val.poke);
    }
    plugin_event_free(event); /* rule 1 */
    *ret = CORAL_BOT_COMMAND_FLOW_NEXT; /* lower-priority plugins see the event too */
    return true;
}

bool exports_plugin_on_command(plugin_invocation_t *call, plugin_flow_t *ret, plugin_string_t *err) {
    (void)err; /* never called: calc declares no commands */
    plugin_invocation_free(call); /* rule 1 */
    *ret = CORAL_BOT_COMMAND_FLOW_NEXT;
    return true;
}

bool exports_plugin_on_prompt(plugin_prompt_reply_t *reply, plugin_string_t *err) {
    (void)err; /* never called: calc asks no prompts */
    plugin_prompt_reply_free(reply); /* rule 1 */
    return true;
}
