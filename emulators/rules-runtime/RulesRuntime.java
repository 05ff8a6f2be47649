// A stand-in for the Firebase Storage emulator's rules runtime
// (cloud-storage-rules-runtime-v1.1.3.jar), which firebase-tools would download from Google.
//
// firebase-tools launches it as `java -jar <FIREBASE_EMULATORS_PATH>/cloud-storage-rules-runtime-v1.1.3.jar serve`
// and talks line-delimited JSON over stdin/stdout:
//   -> (on start)                 {"id":-1,"status":"ok"}
//   <- {"action":"load_ruleset","id":N,"context":{"rulesetName":"0","source":{"files":[{"name":..,"content":..}]}}}
//   -> {"id":N,"status":"ok","result":{"rulesVersion":2},"errors":[],"warnings":[]}
//   <- {"action":"verify","id":N,"context":{"rulesetName":"0","service":"firebase.storage","path":"/b/B/o/a/b",
//        "method":"get|list|create|update|delete","variables":{"request":{map_value..},"resource":{..}}}}
//   -> {"id":N,"status":"ok","result":{"permit":true|false},"errors":[],"warnings":[]}
//
// It really parses and evaluates the ruleset it is given, for the subset of the Security Rules language that
// tapesync's storage.rules uses (see emulators/README.md). Anything outside that subset is a load error, never
// silently allowed: an unknown construct fails load_ruleset, and a rule that cannot be evaluated denies.
//
// Always answers status "ok": firebase-tools drops non-"ok" answers without resolving the pending request,
// which would hang the HTTP request that asked. Failures are reported in "errors" instead (=> deny).
//
// Set TAPESYNC_RULES_TRACE=1 to log the protocol traffic to stderr (the emulator copies it into its log).

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Set;
import java.util.regex.Pattern;
import java.util.regex.PatternSyntaxException;

public final class RulesRuntime {
    private static final boolean TRACE = isSet(System.getenv("TAPESYNC_RULES_TRACE"));
    private final Map<String, Ruleset> rulesets = new HashMap<>();

    public static void main(String[] args) throws IOException {
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        Writer out = new OutputStreamWriter(System.out, StandardCharsets.UTF_8);
        RulesRuntime runtime = new RulesRuntime();
        send(out, "{\"id\":-1,\"status\":\"ok\"}");
        String line;
        // The emulator never closes stdin on purpose; EOF means it is gone, so we go too.
        while ((line = in.readLine()) != null) {
            if (line.isBlank()) continue;
            if (TRACE) System.err.println("rules-runtime <- " + line);
            send(out, runtime.handle(line));
        }
    }

    private static boolean isSet(String v) {
        return v != null && !v.isEmpty() && !v.equals("0") && !v.equalsIgnoreCase("false");
    }

    private static void send(Writer out, String line) throws IOException {
        if (TRACE) System.err.println("rules-runtime -> " + line);
        out.write(line);
        out.write('\n');
        out.flush();
    }

    /** Answers one request line. Never throws. */
    String handle(String line) {
        Object id = null;
        try {
            Object parsed = Json.parse(line);
            if (!(parsed instanceof Map<?, ?> req)) throw new IllegalArgumentException("request is not a JSON object");
            id = req.get("id");
            Object action = req.get("action");
            Map<?, ?> context = req.get("context") instanceof Map<?, ?> m ? m : Map.of();
            if ("load_ruleset".equals(action)) return loadRuleset(id, context);
            if ("verify".equals(action)) return verify(id, context);
            return answer(id, null, List.of("tapesync rules stand-in: unsupported action " + action), List.of());
        } catch (RuntimeException e) {
            return answer(id, null, List.of("tapesync rules stand-in: " + e), List.of());
        }
    }

    private String loadRuleset(Object id, Map<?, ?> context) {
        String name = String.valueOf(context.get("rulesetName"));
        Map<?, ?> source = context.get("source") instanceof Map<?, ?> m ? m : Map.of();
        List<?> files = source.get("files") instanceof List<?> l ? l : List.of();
        if (files.isEmpty()) return answer(id, null, List.of("load_ruleset: no source files"), List.of());
        List<Block> blocks = new ArrayList<>();
        int version = 1;
        List<String> errors = new ArrayList<>();
        for (Object f : files) {
            Map<?, ?> file = f instanceof Map<?, ?> m ? m : Map.of();
            String fileName = file.get("name") instanceof String n ? n : "storage.rules";
            String content = file.get("content") instanceof String c ? c : "";
            try {
                Parser.Result r = new Parser(content).parseFile();
                version = Math.max(version, r.version());
                for (Service s : r.services()) {
                    if (s.name().equals("firebase.storage")) blocks.addAll(s.blocks());
                }
            } catch (RulesSyntaxError e) {
                errors.add("{\"description_\":" + Json.quote(e.getMessage()) + ",\"sourcePosition_\":{\"fileName_\":"
                        + Json.quote(fileName) + ",\"line_\":" + e.line + ",\"column_\":" + e.column + "}}");
            }
        }
        if (!errors.isEmpty()) return answer(id, null, errors, List.of());
        rulesets.put(name, new Ruleset(version, blocks));
        return answer(id, "{\"rulesVersion\":" + version + "}", List.of(), List.of());
    }

    private String verify(Object id, Map<?, ?> context) {
        String name = String.valueOf(context.get("rulesetName"));
        Ruleset ruleset = rulesets.get(name);
        if (ruleset == null) return answer(id, null, List.of("verify: unknown ruleset " + name), List.of());
        Object service = context.get("service");
        if (service != null && !"firebase.storage".equals(service)) {
            return answer(id, "{\"permit\":false}", List.of(), List.of());
        }
        String path = String.valueOf(context.get("path"));
        String method = String.valueOf(context.get("method"));
        Map<?, ?> vars = context.get("variables") instanceof Map<?, ?> m ? m : Map.of();
        Map<String, Object> env = new HashMap<>();
        env.put("request", Values.fromTyped(vars.get("request")));
        env.put("resource", Values.fromTyped(vars.get("resource")));
        boolean permit = ruleset.permits(path, method, env);
        return answer(id, "{\"permit\":" + permit + "}", List.of(), List.of());
    }

    private static String answer(Object id, String resultJson, List<String> errors, List<String> warnings) {
        StringBuilder sb = new StringBuilder("{\"id\":");
        sb.append(id instanceof Long || id instanceof Double ? Json.number(id) : id == null ? "null" : Json.quote(id.toString()));
        sb.append(",\"status\":\"ok\"");
        if (resultJson != null) sb.append(",\"result\":").append(resultJson);
        sb.append(",\"errors\":").append(Json.stringArray(errors));
        sb.append(",\"warnings\":").append(Json.stringArray(warnings));
        return sb.append('}').toString();
    }

    // ---------------------------------------------------------------------------------------------------------
    // Rules model

    record Service(String name, List<Block> blocks) {}

    /** A path segment of a match: a literal, a {var} (one segment) or a {var=**} (the rest of the path). */
    record Segment(String literal, String var, boolean rest) {}

    record Allow(Set<String> methods, Expr condition) {
        boolean covers(String method) {
            if (methods.contains(method)) return true;
            return switch (method) {
                case "get", "list" -> methods.contains("read");
                case "create", "update", "delete" -> methods.contains("write");
                default -> false;
            };
        }
    }

    record Block(List<Segment> pattern, List<Allow> allows, List<Block> children) {}

    record Ruleset(int version, List<Block> blocks) {
        boolean permits(String path, String method, Map<String, Object> env) {
            String p = path.startsWith("/") ? path.substring(1) : path;
            List<String> segs = p.isEmpty() ? List.of() : List.of(p.split("/", -1));
            for (Block b : blocks) {
                if (walk(b, segs, 0, method, env)) return true;
            }
            return false; // deny by default
        }

        private boolean walk(Block block, List<String> segs, int pos, String method, Map<String, Object> env) {
            Map<String, Object> bound = new HashMap<>(env);
            int i = pos;
            for (Segment s : block.pattern()) {
                if (s.rest()) {
                    int remaining = segs.size() - i;
                    // rules_version '2': {x=**} matches zero or more segments; version 1: one or more.
                    if (remaining < (version >= 2 ? 0 : 1)) return false;
                    bound.put(s.var(), String.join("/", segs.subList(i, segs.size())));
                    i = segs.size();
                } else {
                    if (i >= segs.size()) return false;
                    String seg = segs.get(i);
                    if (s.var() != null) bound.put(s.var(), seg);
                    else if (!s.literal().equals(seg)) return false;
                    i++;
                }
            }
            if (i == segs.size()) {
                for (Allow a : block.allows()) {
                    if (a.covers(method) && (a.condition() == null || Eval.isTrue(a.condition(), bound))) return true;
                }
            }
            for (Block child : block.children()) {
                if (walk(child, segs, i, method, bound)) return true;
            }
            return false;
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Values: typed expression values from the emulator become plain Java values.

    /** The rules language's null (distinct from "field absent"). */
    enum Null { NULL; public String toString() { return "null"; } }

    /** An evaluation error: it propagates, and a condition that ends in an error denies. */
    record Err(String message) {}

    record Timestamp(String value) {}

    static final class Values {
        static Object fromTyped(Object v) {
            if (!(v instanceof Map<?, ?> m) || m.isEmpty()) return Null.NULL;
            Map.Entry<?, ?> e = m.entrySet().iterator().next();
            String kind = String.valueOf(e.getKey());
            Object x = e.getValue();
            switch (kind) {
                case "null_value": return Null.NULL;
                case "bool_value": return Boolean.TRUE.equals(x);
                case "int_value":
                    if (x instanceof Long l) return l;
                    if (x instanceof Double d) return d.longValue();
                    return Long.parseLong(String.valueOf(x));
                case "float_value": return x instanceof Number n ? n.doubleValue() : Double.parseDouble(String.valueOf(x));
                case "string_value": case "bytes_value": return String.valueOf(x);
                case "timestamp_value": return new Timestamp(String.valueOf(x));
                case "path_value": {
                    StringBuilder sb = new StringBuilder();
                    Map<?, ?> pv = x instanceof Map<?, ?> pm ? pm : Map.of();
                    if (pv.get("segments") instanceof List<?> segs) {
                        for (Object s : segs) {
                            if (s instanceof Map<?, ?> sm) sb.append('/').append(sm.get("simple"));
                        }
                    }
                    return sb.toString();
                }
                case "list_value": case "set_value": {
                    List<Object> out = new ArrayList<>();
                    Map<?, ?> lv = x instanceof Map<?, ?> lm ? lm : Map.of();
                    if (lv.get("values") instanceof List<?> vals) for (Object o : vals) out.add(fromTyped(o));
                    return out;
                }
                case "map_value": {
                    Map<String, Object> out = new LinkedHashMap<>();
                    Map<?, ?> mv = x instanceof Map<?, ?> mm ? mm : Map.of();
                    if (mv.get("fields") instanceof Map<?, ?> fields) {
                        for (Map.Entry<?, ?> f : fields.entrySet()) out.put(String.valueOf(f.getKey()), fromTyped(f.getValue()));
                    }
                    return out;
                }
                default: return new Err("unsupported value kind " + kind);
            }
        }

        static String typeName(Object v) {
            if (v instanceof Null) return "null";
            if (v instanceof Boolean) return "bool";
            if (v instanceof Long) return "int";
            if (v instanceof Double) return "float";
            if (v instanceof String) return "string";
            if (v instanceof List) return "list";
            if (v instanceof Map) return "map";
            if (v instanceof Timestamp) return "timestamp";
            return "error";
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Expressions

    sealed interface Expr permits Lit, Ident, Member, Index, Call, Unary, Binary, ListLit {}
    record Lit(Object value) implements Expr {}
    record Ident(String name) implements Expr {}
    record Member(Expr target, String field) implements Expr {}
    record Index(Expr target, Expr index) implements Expr {}
    record Call(Expr target, String method, List<Expr> args) implements Expr {}
    record Unary(String op, Expr operand) implements Expr {}
    record Binary(String op, Expr left, Expr right) implements Expr {}
    record ListLit(List<Expr> items) implements Expr {}

    static final Set<String> METHODS = Set.of("matches", "size", "lower", "upper", "trim", "keys", "values");

    static final class Eval {
        private static final Map<String, Pattern> PATTERNS = new HashMap<>();

        static boolean isTrue(Expr e, Map<String, Object> env) {
            Object v = eval(e, env);
            if (TRACE && v instanceof Err err) System.err.println("rules-runtime: condition error: " + err.message());
            return Boolean.TRUE.equals(v);
        }

        static Object eval(Expr e, Map<String, Object> env) {
            if (e instanceof Lit l) return l.value();
            if (e instanceof Ident id) {
                Object v = env.get(id.name());
                return v == null ? new Err("unknown variable " + id.name()) : v;
            }
            if (e instanceof ListLit ll) {
                List<Object> out = new ArrayList<>();
                for (Expr x : ll.items()) {
                    Object v = eval(x, env);
                    if (v instanceof Err) return v;
                    out.add(v);
                }
                return out;
            }
            if (e instanceof Member m) {
                Object t = eval(m.target(), env);
                if (t instanceof Err) return t;
                if (t instanceof Map<?, ?> map) {
                    Object v = map.get(m.field());
                    return v == null ? new Err("property " + m.field() + " is undefined") : v;
                }
                return new Err("cannot read property " + m.field() + " of " + Values.typeName(t));
            }
            if (e instanceof Index ix) {
                Object t = eval(ix.target(), env);
                if (t instanceof Err) return t;
                Object i = eval(ix.index(), env);
                if (i instanceof Err) return i;
                if (t instanceof Map<?, ?> map && i instanceof String k) {
                    Object v = map.get(k);
                    return v == null ? new Err("key " + k + " is undefined") : v;
                }
                if (t instanceof List<?> list && i instanceof Long n) {
                    return n >= 0 && n < list.size() ? list.get(n.intValue()) : new Err("index out of range");
                }
                return new Err("cannot index " + Values.typeName(t) + " with " + Values.typeName(i));
            }
            if (e instanceof Call c) return call(c, env);
            if (e instanceof Unary u) {
                Object v = eval(u.operand(), env);
                if (v instanceof Err) return v;
                if (u.op().equals("!")) return v instanceof Boolean b ? !b : new Err("! of " + Values.typeName(v));
                if (v instanceof Long n) return n == Long.MIN_VALUE ? new Err("overflow") : -n;
                if (v instanceof Double d) return -d;
                return new Err("- of " + Values.typeName(v));
            }
            Binary b = (Binary) e;
            return binary(b, env);
        }

        private static Object binary(Binary b, Map<String, Object> env) {
            String op = b.op();
            if (op.equals("&&") || op.equals("||")) {
                // Short-circuit both ways, as the rules language does: an error on one side is absorbed by a
                // deciding value on the other (false && err == false, err || true == true).
                boolean decider = op.equals("||");
                Object l = eval(b.left(), env);
                if (Boolean.valueOf(decider).equals(l)) return decider;
                Object r = eval(b.right(), env);
                if (Boolean.valueOf(decider).equals(r)) return decider;
                if (l instanceof Err) return l;
                if (r instanceof Err) return r;
                if (l instanceof Boolean && r instanceof Boolean) return !decider;
                return new Err(op + " needs bool operands");
            }
            Object l = eval(b.left(), env);
            if (l instanceof Err) return l;
            Object r = eval(b.right(), env);
            if (r instanceof Err) return r;
            switch (op) {
                case "==": return equal(l, r);
                case "!=": return !equal(l, r);
                case "<": case "<=": case ">": case ">=": {
                    Integer c = compare(l, r);
                    if (c == null) return new Err("cannot compare " + Values.typeName(l) + " and " + Values.typeName(r));
                    return switch (op) {
                        case "<" -> c < 0;
                        case "<=" -> c <= 0;
                        case ">" -> c > 0;
                        default -> c >= 0;
                    };
                }
                case "in": {
                    if (r instanceof List<?> list) {
                        for (Object x : list) if (equal(l, x)) return true;
                        return false;
                    }
                    if (r instanceof Map<?, ?> map) return l instanceof String k && map.containsKey(k);
                    return new Err("in needs a list or map");
                }
                default: return arithmetic(op, l, r);
            }
        }

        private static Object arithmetic(String op, Object l, Object r) {
            try {
                if (l instanceof Long a && r instanceof Long c) {
                    return switch (op) {
                        case "+" -> Math.addExact(a, c);
                        case "-" -> Math.subtractExact(a, c);
                        case "*" -> Math.multiplyExact(a, c);
                        case "/" -> c == 0 ? new Err("division by zero") : (Object) (a / c);
                        default -> c == 0 ? new Err("modulo by zero") : (Object) (a % c);
                    };
                }
                if (l instanceof Number a && r instanceof Number c) {
                    double x = a.doubleValue(), y = c.doubleValue();
                    return switch (op) {
                        case "+" -> x + y;
                        case "-" -> x - y;
                        case "*" -> x * y;
                        case "/" -> x / y;
                        default -> x % y;
                    };
                }
                if (op.equals("+") && l instanceof String a && r instanceof String c) return a + c;
                if (op.equals("+") && l instanceof List<?> a && r instanceof List<?> c) {
                    List<Object> out = new ArrayList<>(a);
                    out.addAll(c);
                    return out;
                }
            } catch (ArithmeticException ex) {
                return new Err("overflow");
            }
            return new Err(op + " of " + Values.typeName(l) + " and " + Values.typeName(r));
        }

        static boolean equal(Object l, Object r) {
            if (l instanceof Number a && r instanceof Number c) {
                if (l instanceof Long x && r instanceof Long y) return x.longValue() == y.longValue();
                return a.doubleValue() == c.doubleValue();
            }
            if (l instanceof List<?> a && r instanceof List<?> c) {
                if (a.size() != c.size()) return false;
                for (int i = 0; i < a.size(); i++) if (!equal(a.get(i), c.get(i))) return false;
                return true;
            }
            if (l instanceof Map<?, ?> a && r instanceof Map<?, ?> c) {
                if (!a.keySet().equals(c.keySet())) return false;
                for (Object k : a.keySet()) if (!equal(a.get(k), c.get(k))) return false;
                return true;
            }
            return Objects.equals(l, r);
        }

        static Integer compare(Object l, Object r) {
            if (l instanceof Long x && r instanceof Long y) return Long.compare(x, y);
            if (l instanceof Number a && r instanceof Number c) return Double.compare(a.doubleValue(), c.doubleValue());
            if (l instanceof String a && r instanceof String c) return Integer.signum(a.compareTo(c));
            return null;
        }

        private static Object call(Call c, Map<String, Object> env) {
            Object t = eval(c.target(), env);
            if (t instanceof Err) return t;
            List<Object> args = new ArrayList<>();
            for (Expr a : c.args()) {
                Object v = eval(a, env);
                if (v instanceof Err) return v;
                args.add(v);
            }
            String m = c.method();
            if (t instanceof String s) {
                switch (m) {
                    case "matches":
                        if (args.size() != 1 || !(args.get(0) instanceof String re)) return new Err("matches(string)");
                        Pattern p;
                        synchronized (PATTERNS) {
                            p = PATTERNS.get(re);
                            if (p == null) {
                                try {
                                    p = Pattern.compile(re);
                                } catch (PatternSyntaxException ex) {
                                    return new Err("bad regex " + re);
                                }
                                PATTERNS.put(re, p);
                            }
                        }
                        return p.matcher(s).matches(); // the whole string, as the rules language does
                    case "size": return args.isEmpty() ? (Object) (long) s.codePointCount(0, s.length()) : new Err("size()");
                    case "lower": return s.toLowerCase(java.util.Locale.ROOT);
                    case "upper": return s.toUpperCase(java.util.Locale.ROOT);
                    case "trim": return s.trim();
                    default: break;
                }
            }
            if (m.equals("size") && args.isEmpty()) {
                if (t instanceof List<?> l) return (long) l.size();
                if (t instanceof Map<?, ?> map) return (long) map.size();
            }
            if (t instanceof Map<?, ?> map && args.isEmpty()) {
                if (m.equals("keys")) return new ArrayList<Object>(map.keySet());
                if (m.equals("values")) return new ArrayList<Object>(map.values());
            }
            return new Err(Values.typeName(t) + "." + m + "() is not supported");
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Parser

    static final class RulesSyntaxError extends RuntimeException {
        private static final long serialVersionUID = 1L;
        final int line, column;
        RulesSyntaxError(String message, int line, int column) {
            super(message);
            this.line = line;
            this.column = column;
        }
    }

    static final class Parser {
        record Result(int version, List<Service> services) {}

        private final String src;
        private int pos;
        /** Wildcard names in scope, innermost last: identifiers must be one of these, request or resource. */
        private final List<Set<String>> scopes = new ArrayList<>();

        Parser(String src) {
            this.src = src;
        }

        Result parseFile() {
            int version = 1;
            List<Service> services = new ArrayList<>();
            skipSpace();
            if (peekWord("rules_version")) {
                word();
                expect("=");
                String v = stringLiteral();
                if (v.equals("2")) version = 2;
                else if (!v.equals("1")) throw error("unsupported rules_version '" + v + "'");
                expect(";");
            }
            while (true) {
                skipSpace();
                if (pos >= src.length()) break;
                if (!peekWord("service")) throw error("expected 'service'");
                word();
                skipSpace();
                StringBuilder name = new StringBuilder(word());
                while (tryPunct(".")) name.append('.').append(word());
                expect("{");
                List<Block> blocks = new ArrayList<>();
                while (!tryPunct("}")) blocks.add(matchBlock());
                services.add(new Service(name.toString(), blocks));
            }
            return new Result(version, services);
        }

        private Block matchBlock() {
            skipSpace();
            if (peekWord("function")) throw error("functions are not supported by tapesync's rules stand-in");
            if (!peekWord("match")) throw error("expected 'match'");
            word();
            skipSpace();
            List<Segment> pattern = new ArrayList<>();
            Set<String> vars = new HashSet<>();
            while (pos < src.length() && src.charAt(pos) == '/') {
                pos++;
                if (pos < src.length() && src.charAt(pos) == '{') {
                    pos++;
                    String var = word();
                    boolean rest = false;
                    if (src.startsWith("=**}", pos)) {
                        pos += 3;
                        rest = true;
                    }
                    if (pos >= src.length() || src.charAt(pos) != '}') throw error("expected '}' or '=**}' in path");
                    pos++;
                    if (!pattern.isEmpty() && pattern.get(pattern.size() - 1).rest()) {
                        throw error("a {name=**} wildcard must be the last segment");
                    }
                    vars.add(var);
                    pattern.add(new Segment(null, var, rest));
                } else {
                    int start = pos;
                    while (pos < src.length() && "/{} \t\r\n".indexOf(src.charAt(pos)) < 0) pos++;
                    if (pos == start) throw error("empty path segment");
                    if (!pattern.isEmpty() && pattern.get(pattern.size() - 1).rest()) {
                        throw error("a {name=**} wildcard must be the last segment");
                    }
                    pattern.add(new Segment(src.substring(start, pos), null, false));
                }
            }
            if (pattern.isEmpty()) throw error("expected a path starting with '/'");
            expect("{");
            scopes.add(vars);
            List<Allow> allows = new ArrayList<>();
            List<Block> children = new ArrayList<>();
            while (!tryPunct("}")) {
                skipSpace();
                if (peekWord("allow")) allows.add(allow());
                else children.add(matchBlock());
            }
            scopes.remove(scopes.size() - 1);
            return new Block(pattern, allows, children);
        }

        private Allow allow() {
            word(); // allow
            Set<String> methods = new HashSet<>();
            do {
                skipSpace();
                String m = word();
                if (!Set.of("read", "write", "get", "list", "create", "update", "delete").contains(m)) {
                    throw error("unknown method '" + m + "'");
                }
                methods.add(m);
            } while (tryPunct(","));
            Expr condition = null;
            if (tryPunct(":")) {
                skipSpace();
                if (!peekWord("if")) throw error("expected 'if'");
                word();
                condition = expr();
            }
            expect(";");
            return new Allow(methods, condition);
        }

        // expr := or ; or := and ('||' and)* ; and := rel ('&&' rel)* ; rel := add (relop add)?
        private Expr expr() {
            skipSpace();
            if (peekPunct("?")) throw error("'?:' is not supported by tapesync's rules stand-in");
            Expr e = or();
            skipSpace();
            if (peekPunct("?")) throw error("'?:' is not supported by tapesync's rules stand-in");
            return e;
        }

        private Expr or() {
            Expr l = and();
            while (tryPunct("||")) l = new Binary("||", l, and());
            return l;
        }

        private Expr and() {
            Expr l = rel();
            while (tryPunct("&&")) l = new Binary("&&", l, rel());
            return l;
        }

        private Expr rel() {
            Expr l = add();
            for (String op : List.of("==", "!=", "<=", ">=", "<", ">")) {
                if (tryPunct(op)) return new Binary(op, l, add());
            }
            skipSpace();
            if (peekWord("in")) {
                word();
                return new Binary("in", l, add());
            }
            return l;
        }

        private Expr add() {
            Expr l = mul();
            while (true) {
                if (tryPunct("+")) l = new Binary("+", l, mul());
                else if (tryPunct("-")) l = new Binary("-", l, mul());
                else return l;
            }
        }

        private Expr mul() {
            Expr l = unary();
            while (true) {
                if (tryPunct("*")) l = new Binary("*", l, unary());
                else if (tryPunct("/")) l = new Binary("/", l, unary());
                else if (tryPunct("%")) l = new Binary("%", l, unary());
                else return l;
            }
        }

        private Expr unary() {
            skipSpace();
            if (peekPunct("!") && !peekPunct("!=")) {
                pos++;
                return new Unary("!", unary());
            }
            if (peekPunct("-")) {
                pos++;
                return new Unary("-", unary());
            }
            return postfix(primary());
        }

        private Expr postfix(Expr e) {
            while (true) {
                if (tryPunct(".")) {
                    skipSpace();
                    int at = pos;
                    String name = word();
                    if (tryPunct("(")) {
                        if (!METHODS.contains(name)) {
                            pos = at;
                            throw error("method '" + name + "' is not supported by tapesync's rules stand-in");
                        }
                        List<Expr> args = new ArrayList<>();
                        if (!tryPunct(")")) {
                            do args.add(expr()); while (tryPunct(","));
                            expect(")");
                        }
                        e = new Call(e, name, args);
                    } else {
                        e = new Member(e, name);
                    }
                } else if (tryPunct("[")) {
                    Expr idx = expr();
                    expect("]");
                    e = new Index(e, idx);
                } else {
                    return e;
                }
            }
        }

        private Expr primary() {
            skipSpace();
            if (pos >= src.length()) throw error("unexpected end of rules");
            char c = src.charAt(pos);
            if (tryPunct("(")) {
                Expr e = expr();
                expect(")");
                return e;
            }
            if (tryPunct("[")) {
                List<Expr> items = new ArrayList<>();
                if (!tryPunct("]")) {
                    do items.add(expr()); while (tryPunct(","));
                    expect("]");
                }
                return new ListLit(items);
            }
            if (c == '\'' || c == '"') return new Lit(stringLiteral());
            if (Character.isDigit(c)) {
                int start = pos;
                while (pos < src.length() && Character.isDigit(src.charAt(pos))) pos++;
                boolean isFloat = false;
                if (pos + 1 < src.length() && src.charAt(pos) == '.' && Character.isDigit(src.charAt(pos + 1))) {
                    isFloat = true;
                    pos++;
                    while (pos < src.length() && Character.isDigit(src.charAt(pos))) pos++;
                }
                String num = src.substring(start, pos);
                try {
                    return new Lit(isFloat ? (Object) Double.parseDouble(num) : (Object) Long.parseLong(num));
                } catch (NumberFormatException ex) {
                    throw error("bad number " + num);
                }
            }
            if (Character.isLetter(c) || c == '_') {
                int at = pos;
                String name = word();
                switch (name) {
                    case "true": return new Lit(Boolean.TRUE);
                    case "false": return new Lit(Boolean.FALSE);
                    case "null": return new Lit(Null.NULL);
                    default: break;
                }
                skipSpace();
                if (peekPunct("(")) {
                    pos = at;
                    throw error("function '" + name + "' is not supported by tapesync's rules stand-in");
                }
                if (!name.equals("request") && !name.equals("resource") && scopes.stream().noneMatch(s -> s.contains(name))) {
                    pos = at;
                    throw error("unknown variable '" + name + "'");
                }
                return new Ident(name);
            }
            throw error("unexpected '" + c + "'");
        }

        private String stringLiteral() {
            skipSpace();
            if (pos >= src.length()) throw error("expected a string");
            char q = src.charAt(pos);
            if (q != '\'' && q != '"') throw error("expected a string");
            pos++;
            StringBuilder sb = new StringBuilder();
            while (true) {
                if (pos >= src.length()) throw error("unterminated string");
                char c = src.charAt(pos++);
                if (c == q) return sb.toString();
                if (c == '\n') throw error("unterminated string");
                if (c == '\\') {
                    if (pos >= src.length()) throw error("unterminated string");
                    char n = src.charAt(pos++);
                    switch (n) {
                        case 'n' -> sb.append('\n');
                        case 't' -> sb.append('\t');
                        case 'r' -> sb.append('\r');
                        // Unknown escapes stay as written, so regexes like '\\.' and '\.' both reach the regex engine.
                        case '\\', '\'', '"' -> sb.append(n);
                        default -> sb.append('\\').append(n);
                    }
                } else {
                    sb.append(c);
                }
            }
        }

        private String word() {
            skipSpace();
            int start = pos;
            while (pos < src.length() && (Character.isLetterOrDigit(src.charAt(pos)) || src.charAt(pos) == '_')) pos++;
            if (start == pos) throw error("expected a name");
            return src.substring(start, pos);
        }

        private boolean peekWord(String w) {
            if (!src.startsWith(w, pos)) return false;
            int end = pos + w.length();
            return end >= src.length() || !(Character.isLetterOrDigit(src.charAt(end)) || src.charAt(end) == '_');
        }

        private boolean peekPunct(String p) {
            skipSpace();
            return src.startsWith(p, pos);
        }

        private boolean tryPunct(String p) {
            skipSpace();
            if (!src.startsWith(p, pos)) return false;
            // '<' must not eat '<=', '|' of '||' etc.: callers try longer operators first.
            pos += p.length();
            return true;
        }

        private void expect(String p) {
            if (!tryPunct(p)) {
                throw error("expected '" + p + "'");
            }
        }

        private void skipSpace() {
            while (pos < src.length()) {
                char c = src.charAt(pos);
                if (Character.isWhitespace(c)) {
                    pos++;
                } else if (src.startsWith("//", pos)) {
                    while (pos < src.length() && src.charAt(pos) != '\n') pos++;
                } else if (src.startsWith("/*", pos)) {
                    int end = src.indexOf("*/", pos + 2);
                    if (end < 0) throw error("unterminated comment");
                    pos = end + 2;
                } else {
                    return;
                }
            }
        }

        private RulesSyntaxError error(String message) {
            int line = 1, col = 1;
            for (int i = 0; i < Math.min(pos, src.length()); i++) {
                if (src.charAt(i) == '\n') {
                    line++;
                    col = 1;
                } else {
                    col++;
                }
            }
            return new RulesSyntaxError(message, line, col);
        }
    }

    // ---------------------------------------------------------------------------------------------------------
    // Minimal JSON: objects -> LinkedHashMap, arrays -> ArrayList, integers -> Long, other numbers -> Double,
    // null -> null.

    static final class Json {
        private final String s;
        private int i;

        private Json(String s) {
            this.s = s;
        }

        static Object parse(String s) {
            Json j = new Json(s);
            Object v = j.value();
            j.ws();
            if (j.i != s.length()) throw new IllegalArgumentException("trailing characters in JSON");
            return v;
        }

        private void ws() {
            while (i < s.length() && " \t\r\n".indexOf(s.charAt(i)) >= 0) i++;
        }

        private Object value() {
            ws();
            if (i >= s.length()) throw new IllegalArgumentException("unexpected end of JSON");
            char c = s.charAt(i);
            if (c == '{') {
                i++;
                Map<String, Object> m = new LinkedHashMap<>();
                ws();
                if (s.charAt(i) == '}') {
                    i++;
                    return m;
                }
                while (true) {
                    ws();
                    String k = str();
                    ws();
                    if (s.charAt(i++) != ':') throw new IllegalArgumentException("expected ':' in JSON");
                    m.put(k, value());
                    ws();
                    char d = s.charAt(i++);
                    if (d == '}') return m;
                    if (d != ',') throw new IllegalArgumentException("expected ',' or '}' in JSON");
                }
            }
            if (c == '[') {
                i++;
                List<Object> l = new ArrayList<>();
                ws();
                if (s.charAt(i) == ']') {
                    i++;
                    return l;
                }
                while (true) {
                    l.add(value());
                    ws();
                    char d = s.charAt(i++);
                    if (d == ']') return l;
                    if (d != ',') throw new IllegalArgumentException("expected ',' or ']' in JSON");
                }
            }
            if (c == '"') return str();
            if (s.startsWith("true", i)) {
                i += 4;
                return Boolean.TRUE;
            }
            if (s.startsWith("false", i)) {
                i += 5;
                return Boolean.FALSE;
            }
            if (s.startsWith("null", i)) {
                i += 4;
                return null;
            }
            int start = i;
            while (i < s.length() && "+-0123456789.eE".indexOf(s.charAt(i)) >= 0) i++;
            String num = s.substring(start, i);
            if (num.isEmpty()) throw new IllegalArgumentException("unexpected '" + c + "' in JSON");
            if (num.matches("-?\\d+")) {
                try {
                    return Long.parseLong(num);
                } catch (NumberFormatException e) {
                    return Double.parseDouble(num);
                }
            }
            return Double.parseDouble(num);
        }

        private String str() {
            if (s.charAt(i) != '"') throw new IllegalArgumentException("expected a JSON string");
            i++;
            StringBuilder sb = new StringBuilder();
            while (true) {
                char c = s.charAt(i++);
                if (c == '"') return sb.toString();
                if (c != '\\') {
                    sb.append(c);
                    continue;
                }
                char e = s.charAt(i++);
                switch (e) {
                    case 'n' -> sb.append('\n');
                    case 't' -> sb.append('\t');
                    case 'r' -> sb.append('\r');
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case 'u' -> {
                        sb.append((char) Integer.parseInt(s.substring(i, i + 4), 16));
                        i += 4;
                    }
                    default -> sb.append(e);
                }
            }
        }

        static String quote(String v) {
            StringBuilder sb = new StringBuilder("\"");
            for (int k = 0; k < v.length(); k++) {
                char c = v.charAt(k);
                switch (c) {
                    case '"' -> sb.append("\\\"");
                    case '\\' -> sb.append("\\\\");
                    case '\n' -> sb.append("\\n");
                    case '\r' -> sb.append("\\r");
                    case '\t' -> sb.append("\\t");
                    default -> {
                        if (c < 0x20) sb.append(String.format("\\u%04x", (int) c));
                        else sb.append(c);
                    }
                }
            }
            return sb.append('"').toString();
        }

        static String number(Object n) {
            if (n instanceof Double d && d == Math.rint(d) && !d.isInfinite()) return Long.toString(d.longValue());
            return n.toString();
        }

        static String stringArray(List<String> items) {
            StringBuilder sb = new StringBuilder("[");
            for (int k = 0; k < items.size(); k++) {
                if (k > 0) sb.append(',');
                sb.append(quote(items.get(k)));
            }
            return sb.append(']').toString();
        }
    }
}
