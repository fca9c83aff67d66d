// tests/student/student.c++ — student mode: turns the book into the course.
//
//   student make SRC DST [--lessons 1-5]   DST: a copy of SRC with every solution
//                                          region replaced by a stub (but those
//                                          of the lessons listed)
//   student restore DST SRC LESSONS        put SRC's solution regions of LESSONS
//                                          ("6", "1-5", "1,3") back into DST
//   student check SRC                      the markers' rules, and each lesson's
//                                          "Your turn" in its chapter
//   student list SRC                       every region: lesson, label, file:line
//
// A solution region is a run of whole statements in a function or lambda body,
// between two comment lines of their own:
//
//     // BEGIN SOLUTION Lesson 06: backward of matmul
//     ...
//     // END SOLUTION
//
// Its stub keeps the two marker lines, so a student writes between them (and
// `restore` finds them again), and holds one statement that throws
//
//     throw tt::Error("not implemented yet: Lesson 06, backward of matmul (tt.c++:612)");
//
// preceded, when needed, by (void)x for each name the solution used that
// nothing else uses any more: the function's parameters, a lambda's captures,
// locals declared before the region, and helpers of an unnamed namespace that
// only solutions call. That keeps the student's tree warning-free under
// -Wall -Wextra (unused parameter, variable, function, lambda capture) with
// no warning switched off, and shows the student what the solution worked
// with. The names are found from the tokens, not by compiling: see
// unused_names(). What it cannot see (a name declared before the region and
// used elsewhere under another meaning) the author avoids by declaring what
// only the solution needs inside the region; CI compiles the student tree
// with -Werror to prove the result.
//
// `make` refuses to write into a folder that exists and is not empty (it may
// hold a student's work), copies everything but build products (.build/, the
// binary, what .gitignore ignores) and no git history, and then checks that
// no line of a removed solution is left anywhere in the new tree: in a
// comment, a chapter, a README.
//
// Only the C++17 standard library: this builds wherever tt builds.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

struct Failure : std::runtime_error {
    using std::runtime_error::runtime_error;
};

std::string read_file(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Failure("cannot read " + path.string());
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_file(const fs::path& path, const std::string& text) {
    fs::create_directories(path.parent_path());
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out.flush()) throw Failure("cannot write " + path.string());
}

std::vector<std::string> split_lines(const std::string& text) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < text.size()) {
        size_t end = text.find('\n', start);
        if (end == std::string::npos) end = text.size();
        lines.push_back(text.substr(start, end - start));
        start = end + 1;
    }
    return lines;
}

std::string join_lines(const std::vector<std::string>& lines) {
    std::string out;
    for (const std::string& l : lines) out += l + "\n";
    return out;
}

std::string trim(const std::string& s) {
    size_t a = 0, b = s.size();
    while (a < b && std::isspace((unsigned char)s[a])) a++;
    while (b > a && std::isspace((unsigned char)s[b - 1])) b--;
    return s.substr(a, b - a);
}

bool is_cpp(const fs::path& p) {
    const std::string e = p.extension().string();
    return e == ".c++" || e == ".h" || e == ".cc" || e == ".cpp" || e == ".hpp";
}

// "1-5,9" -> {1,2,3,4,5,9}
std::set<int> parse_lessons(const std::string& text) {
    std::set<int> out;
    std::stringstream parts(text);
    for (std::string part; std::getline(parts, part, ',');) {
        const size_t dash = part.find('-');
        try {
            size_t used = 0;
            const int first = std::stoi(part.substr(0, dash), &used);
            if (used != part.substr(0, dash).size()) throw std::invalid_argument("");
            int last = first;
            if (dash != std::string::npos) {
                last = std::stoi(part.substr(dash + 1), &used);
                if (used != part.size() - dash - 1) throw std::invalid_argument("");
            }
            if (first < 1 || last > 20 || last < first) throw std::invalid_argument("");
            for (int n = first; n <= last; n++) out.insert(n);
        } catch (const std::logic_error&) {
            throw Failure("'" + text + "' is not a list of lessons like 6, 1-5 or 1-5,9 (lessons 1 to 20)");
        }
    }
    if (out.empty()) throw Failure("no lessons in '" + text + "'");
    return out;
}

// ---- Regions ---------------------------------------------------------------

struct Region {
    int lesson;
    std::string label;
    size_t begin, end; // line indexes (0-based) of the BEGIN and END markers
};

// Finds the regions of one file and checks the markers' rules: each on a line
// of its own, in pairs, not nested, not empty, a lesson from 01 to 20.
std::vector<Region> find_regions(const std::vector<std::string>& lines, const std::string& name) {
    std::vector<Region> regions;
    bool open = false;
    for (size_t i = 0; i < lines.size(); i++) {
        const std::string t = trim(lines[i]);
        const std::string where = name + ":" + std::to_string(i + 1) + ": ";
        // anything that starts like a marker must be one
        if (t.rfind("//", 0) != 0) continue;
        const std::string words = trim(t.substr(2));
        const bool begin = words.rfind("BEGIN SOLUTION", 0) == 0, end = words.rfind("END SOLUTION", 0) == 0;
        if (!begin && !end) continue;
        if (begin) {
            const std::string rest = words.substr(14); // " Lesson NN: label"
            if (rest.size() < 12 || rest.compare(0, 8, " Lesson ") != 0 || !std::isdigit((unsigned char)rest[8]) ||
                !std::isdigit((unsigned char)rest[9]) || rest.compare(10, 2, ": ") != 0 || trim(rest.substr(12)).empty())
                throw Failure(where + "a BEGIN marker reads '// BEGIN SOLUTION Lesson NN: what the student writes'");
            const int lesson = (rest[8] - '0') * 10 + (rest[9] - '0');
            if (lesson < 1 || lesson > 20) throw Failure(where + "no lesson " + std::to_string(lesson));
            if (open) throw Failure(where + "regions do not nest: the one above is not ended");
            if (t != lines[i].substr(lines[i].find_first_not_of(" \t")))
                throw Failure(where + "the marker must be alone on its line");
            regions.push_back({lesson, trim(rest.substr(12)), i, 0});
            open = true;
        } else {
            if (words != "END SOLUTION") throw Failure(where + "an END marker reads '// END SOLUTION' and nothing else");
            if (!open) throw Failure(where + "END SOLUTION without a BEGIN above it");
            regions.back().end = i;
            bool empty = true;
            for (size_t k = regions.back().begin + 1; k < i; k++) empty = empty && trim(lines[k]).empty();
            if (empty) throw Failure(where + "the region is empty");
            open = false;
        }
    }
    if (open) throw Failure(name + ":" + std::to_string(regions.back().begin + 1) + ": the region is never ended");
    return regions;
}

// ---- Tokens ----------------------------------------------------------------
// Enough of C++'s lexer to find names: identifiers, numbers and punctuation,
// with comments, string and character literals and preprocessor lines left out.

struct Token {
    std::string text;
    size_t line; // 0-based
    bool identifier;
};

std::vector<Token> tokenize(const std::string& s) {
    std::vector<Token> out;
    size_t i = 0, line = 0;
    bool line_start = true; // only spaces so far on this line
    auto advance = [&](size_t n) {
        for (size_t k = 0; k < n && i < s.size(); k++, i++)
            if (s[i] == '\n') line++, line_start = true;
    };
    while (i < s.size()) {
        const char c = s[i];
        if (c == '\n' || std::isspace((unsigned char)c)) { advance(1); continue; }
        if (c == '#' && line_start) { // a preprocessor line, with its continuations
            while (i < s.size() && s[i] != '\n') advance(s[i] == '\\' && i + 1 < s.size() ? 2 : 1);
            continue;
        }
        line_start = false;
        if (s.compare(i, 2, "//") == 0) {
            while (i < s.size() && s[i] != '\n') advance(1);
            continue;
        }
        if (s.compare(i, 2, "/*") == 0) {
            const size_t end = s.find("*/", i + 2);
            advance((end == std::string::npos ? s.size() : end + 2) - i);
            continue;
        }
        if (std::isalpha((unsigned char)c) || c == '_') {
            size_t j = i;
            while (j < s.size() && (std::isalnum((unsigned char)s[j]) || s[j] == '_')) j++;
            const std::string word = s.substr(i, j - i);
            if (j < s.size() && s[j] == '"' && (word == "R" || word == "u8R" || word == "LR" || word == "uR" || word == "UR")) {
                // raw string R"delim( ... )delim"
                const size_t paren = s.find('(', j);
                const std::string close = ")" + s.substr(j + 1, paren - j - 1) + "\"";
                const size_t end = s.find(close, paren);
                advance((end == std::string::npos ? s.size() : end + close.size()) - i);
                continue;
            }
            if (j < s.size() && (s[j] == '"' || s[j] == '\'') && (word == "u8" || word == "u" || word == "U" || word == "L")) {
                advance(j - i); // an encoding prefix: the literal follows
                continue;
            }
            out.push_back({word, line, true});
            advance(j - i);
            continue;
        }
        if (std::isdigit((unsigned char)c) || (c == '.' && i + 1 < s.size() && std::isdigit((unsigned char)s[i + 1]))) {
            size_t j = i + 1;
            while (j < s.size()) {
                if (std::isalnum((unsigned char)s[j]) || s[j] == '.' || s[j] == '_' || (s[j] == '\'' && j + 1 < s.size() && std::isalnum((unsigned char)s[j + 1]))) j++;
                else if ((s[j] == '+' || s[j] == '-') && std::strchr("eEpP", s[j - 1])) j++;
                else break;
            }
            out.push_back({s.substr(i, j - i), line, false});
            advance(j - i);
            continue;
        }
        if (c == '"' || c == '\'') {
            size_t j = i + 1;
            while (j < s.size() && s[j] != c && s[j] != '\n') j += s[j] == '\\' ? 2 : 1;
            advance(j + 1 - i);
            continue;
        }
        for (const char* two : {"::", "->", "&&", "||", "==", "!=", "<=", ">=", "+=", "-=", "*=", "/="}) {
            if (s.compare(i, 2, two) == 0) {
                out.push_back({two, line, false});
                advance(2);
                goto next;
            }
        }
        out.push_back({std::string(1, c), line, false});
        advance(1);
    next:;
    }
    return out;
}

// ---- Which names a stub must mention ---------------------------------------

const std::set<std::string> kKeywords = {
    "alignas", "alignof", "asm", "auto", "bool", "break", "case", "catch", "char", "class", "const", "constexpr",
    "const_cast", "continue", "decltype", "default", "delete", "do", "double", "dynamic_cast", "else", "enum",
    "explicit", "export", "extern", "false", "float", "for", "friend", "goto", "if", "inline", "int", "long",
    "mutable", "namespace", "new", "noexcept", "nullptr", "operator", "private", "protected", "public",
    "register", "reinterpret_cast", "return", "short", "signed", "sizeof", "static", "static_assert",
    "static_cast", "struct", "switch", "template", "this", "thread_local", "throw", "true", "try", "typedef",
    "typeid", "typename", "union", "unsigned", "using", "virtual", "void", "volatile", "while", "override", "final"};

// One { } block around a region, and what kind of block it is.
struct Scope {
    enum Kind { Function, Lambda, Namespace, Other } kind = Other;
    size_t open = 0, close = 0;          // token indexes of { and }
    size_t names_from = 0;               // first token after the parameter list (an init list counts as body)
    std::vector<std::string> parameters; // named parameters
    std::vector<std::string> captures;   // a lambda's named captures
    bool default_capture = false;        // [=] or [&]: names of the enclosing function are reachable
};

// The tokens of a parenthesised or bracketed list, split at its top-level commas.
std::vector<std::vector<const Token*>> split_list(const std::vector<Token>& t, size_t from, size_t to) {
    std::vector<std::vector<const Token*>> items(1);
    int depth = 0;
    for (size_t k = from; k < to; k++) {
        const std::string& x = t[k].text;
        if (x == "(" || x == "[" || x == "{" || x == "<") depth++;
        if (x == ")" || x == "]" || x == "}" || x == ">") depth--;
        if (x == "," && depth == 0) items.emplace_back();
        else items.back().push_back(&t[k]);
    }
    if (items.size() == 1 && items[0].empty()) items.clear();
    return items;
}

// A parameter's name: its last identifier, if it has one (`float` or
// `const Tensor&` are unnamed). A default value is dropped first.
std::string parameter_name(std::vector<const Token*> p) {
    int depth = 0;
    for (size_t k = 0; k < p.size(); k++) {
        const std::string& x = p[k]->text;
        if (x == "(" || x == "<" || x == "[") depth++;
        if (x == ")" || x == ">" || x == "]") depth--;
        if (x == "=" && depth == 0) { p.resize(k); break; }
    }
    while (!p.empty() && p.back()->text == "]") { // an array parameter: float a[4]
        while (!p.empty() && p.back()->text != "[") p.pop_back();
        if (!p.empty()) p.pop_back();
    }
    if (p.size() < 2 || !p.back()->identifier || kKeywords.count(p.back()->text)) return "";
    if (p[p.size() - 2]->text == "::") return "";
    return p.back()->text;
}

size_t matching(const std::vector<Token>& t, size_t at, const char* open, const char* close) {
    int depth = 0;
    for (size_t k = at + 1; k-- > 0;) {
        if (t[k].text == close) depth++;
        if (t[k].text == open && --depth == 0) return k;
    }
    return std::string::npos;
}

// A lambda's capture list, tokens [from, to): `=` or `&` alone is a default
// capture; `x`, `&x` and `x = expr` capture x by name.
void read_captures(const std::vector<Token>& t, size_t from, size_t to, Scope& s) {
    for (auto& c : split_list(t, from, to)) {
        if (c.size() == 1 && (c[0]->text == "=" || c[0]->text == "&")) s.default_capture = true;
        else if (!c.empty() && c[0]->identifier && c[0]->text != "this") s.captures.push_back(c[0]->text);
        else if (c.size() > 1 && c[0]->text == "&" && c[1]->identifier) s.captures.push_back(c[1]->text);
    }
}

// What the { at token `open` opens: a function (its parameters), a lambda (its
// parameters and captures), a namespace, or some other block.
Scope classify(const std::vector<Token>& t, size_t open, const std::vector<size_t>& closing) {
    Scope s;
    s.open = open, s.close = closing[open];
    size_t k = open;
    auto before = [&](size_t at) -> const std::string& {
        static const std::string none;
        return at == 0 ? none : t[at - 1].text;
    };
    if (before(k) == "]") { // a lambda without a parameter list: [x] { ... }
        const size_t bracket = matching(t, k - 1, "[", "]");
        s.kind = Scope::Lambda;
        s.names_from = k;
        read_captures(t, bracket + 1, k - 1, s);
        return s;
    }
    // skip a trailing return type and qualifiers: ) const noexcept -> T {
    size_t scan = k;
    for (int steps = 0; scan > 0 && steps < 40; steps++) {
        const std::string& x = before(scan);
        if (x == ")") break;
        if (x == ";" || x == "{" || x == "}" || x == "=" || x == "(" || x == "," || x == "namespace") break;
        scan--;
    }
    if (before(scan) != ")") {
        // namespace { or namespace NAME {
        if (before(k) == "namespace" || (k >= 2 && t[k - 1].identifier && t[k - 2].text == "namespace"))
            s.kind = Scope::Namespace;
        return s;
    }
    size_t close_paren = scan - 1;
    for (;;) {
        const size_t open_paren = matching(t, close_paren, "(", ")");
        if (open_paren == std::string::npos || open_paren == 0) return s;
        const Token& name = t[open_paren - 1];
        if (name.text == "]") { // a lambda: [captures](parameters) ... {
            const size_t bracket = matching(t, open_paren - 1, "[", "]");
            s.kind = Scope::Lambda;
            s.names_from = close_paren + 1;
            for (auto& p : split_list(t, open_paren + 1, close_paren)) {
                const std::string n = parameter_name(p);
                if (!n.empty()) s.parameters.push_back(n);
            }
            read_captures(t, bracket + 1, open_paren - 1, s);
            return s;
        }
        bool is_operator = false; // operator()(...), operator==(...)
        for (size_t b = open_paren - 1; b > 0 && open_paren - b <= 3; b--) is_operator = is_operator || t[b - 1].text == "operator";
        if (!name.identifier && !is_operator) return s;
        static const std::set<std::string> control = {"if", "for", "while", "switch", "catch"};
        if (!is_operator && control.count(name.text)) return s;
        // a member of a constructor's init list, `: a(x), b(y) {`: go on to the one before
        const std::string& prior = open_paren >= 2 ? t[open_paren - 2].text : "";
        if ((prior == "," || prior == ":") && open_paren >= 3) {
            size_t p = open_paren - 2;
            while (p > 0 && t[p - 1].text != ")") p--;
            if (p == 0) return s;
            close_paren = p - 1;
            continue;
        }
        s.kind = Scope::Function;
        s.names_from = close_paren + 1;
        for (auto& p : split_list(t, open_paren + 1, close_paren)) {
            const std::string n = parameter_name(p);
            if (!n.empty()) s.parameters.push_back(n);
        }
        return s;
    }
}

// The names region `r` must mention in its stub, as "(void)x" or "(void)&f".
// removed[k] is true for the tokens of every region being stubbed; the rest
// of the file is what the compiler will see.
std::vector<std::string> unused_names(const std::vector<Token>& t, const std::vector<bool>& removed,
                                      const std::vector<size_t>& closing, const Region& r) {
    // the region's own tokens, and the blocks open around it
    std::set<std::string> used_here; // (x.name and p->name are members, not names in scope)
    std::set<std::string> qualified; // std::name: not this file's
    size_t first = t.size();
    for (size_t k = 0; k < t.size(); k++)
        if (t[k].line > r.begin && t[k].line < r.end) {
            const std::string& before = k > 0 ? t[k - 1].text : "";
            if (t[k].identifier && before != "." && before != "->") used_here.insert(t[k].text);
            if (t[k].identifier && before == "::") qualified.insert(t[k].text);
            first = std::min(first, k);
        }
    std::vector<size_t> open_blocks;
    for (size_t k = 0; k < t.size() && t[k].line < r.begin; k++) {
        if (t[k].text == "{") open_blocks.push_back(k);
        if (t[k].text == "}" && !open_blocks.empty()) open_blocks.pop_back();
    }
    // Is name used, as itself, among the tokens [from, to) that remain?
    // (x.name, p->name and ns::name are other things of the same spelling.)
    auto occurrences = [&](const std::string& name, size_t from, size_t to) {
        std::vector<size_t> at;
        for (size_t k = from; k < to; k++)
            if (!removed[k] && t[k].text == name &&
                !(k > 0 && (t[k - 1].text == "." || t[k - 1].text == "->" || t[k - 1].text == "::")))
                at.push_back(k);
        return at;
    };
    static const std::set<std::string> not_a_type = {"return", "case", "goto", "else", "do", "throw", "new",
        "delete", "struct", "class", "enum", "union", "namespace", "using", "typename", "template", "sizeof",
        "operator", "public", "private", "protected"};
    auto declares = [&](size_t k) { // does token k look like the name in a declaration?
        if (k == 0 || k + 1 >= t.size()) return false;
        const Token& p = t[k - 1];
        const std::string& n = t[k + 1].text;
        const bool after_type = (p.identifier && !not_a_type.count(p.text)) || p.text == "*" || p.text == "&" ||
                                p.text == "&&" || p.text == ">" || p.text == ",";
        return after_type && (n == "=" || n == "(" || n == "{" || n == ";" || n == "," || n == "[" || n == ":");
    };
    std::vector<std::string> names;
    auto add = [&](const std::string& n) {
        if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
    };
    auto constant = [&](size_t k) { // declared constexpr or static: nameable without a capture
        for (; k-- > 0 && t[k].text != ";" && t[k].text != "{" && t[k].text != "}";)
            if (t[k].text == "constexpr" || t[k].text == "static") return true;
        return false;
    };
    // Innermost block first: parameters, captures and locals of each function
    // or lambda the region sits in, as far out as the region can name them
    // (past a lambda that captures only by name, just the constants).
    bool reachable = true;
    for (size_t b = open_blocks.size(); b-- > 0;) {
        const Scope s = classify(t, open_blocks[b], closing);
        if (s.kind == Scope::Namespace) break;
        if (s.kind == Scope::Other) continue;
        if (reachable) {
            for (const std::string& n : s.parameters)
                if (used_here.count(n) && occurrences(n, s.names_from, s.close).empty()) add(n);
            for (const std::string& n : s.captures)
                if (used_here.count(n) && occurrences(n, s.open, s.close).empty()) add(n);
        }
        // a local declared before the region in a block around it, used nowhere else
        for (const std::string& n : used_here) {
            if (kKeywords.count(n)) continue;
            const std::vector<size_t> at = occurrences(n, s.open, s.close);
            if (at.size() != 1 || at[0] >= first || !declares(at[0]) || (!reachable && !constant(at[0]))) continue;
            // past such a lambda, +c reads the constant's value without capturing it
            const std::string use = reachable ? n : "+" + n;
            // in scope here: every block open at the declaration is still open at the region
            std::vector<size_t> blocks;
            for (size_t k = s.open; k < at[0]; k++) {
                if (t[k].text == "{") blocks.push_back(k);
                if (t[k].text == "}" && !blocks.empty()) blocks.pop_back();
            }
            if (std::includes(open_blocks.begin(), open_blocks.end(), blocks.begin(), blocks.end())) add(use);
        }
        if (s.kind == Scope::Function) break;
        reachable = reachable && s.default_capture;
    }
    // Helpers of this file that only solutions use: defined once in an unnamed
    // namespace (or static), not a template, and named nowhere else any more.
    // (A public function is never "unused": another file may call it.)
    for (const std::string& n : used_here) {
        if (kKeywords.count(n) || qualified.count(n)) continue;
        const std::vector<size_t> at = occurrences(n, 0, t.size());
        if (at.size() != 1 || at[0] >= first || at[0] + 1 >= t.size()) continue;
        bool only_namespaces = true, internal = false;
        std::vector<size_t> blocks;
        for (size_t k = 0; k < at[0]; k++) {
            if (t[k].text == "{") blocks.push_back(k);
            if (t[k].text == "}" && !blocks.empty()) blocks.pop_back();
        }
        for (size_t o : blocks) {
            only_namespaces = only_namespaces && classify(t, o, closing).kind == Scope::Namespace;
            internal = internal || (o > 0 && t[o - 1].text == "namespace"); // namespace {
        }
        if (!only_namespaces) continue;
        bool templated = false; // template <...> before it, back to the previous declaration
        for (size_t k = at[0]; k-- > 0;) {
            const std::string& x = t[k].text;
            if (x == ";" || x == "}" || x == "{") break;
            if (x == "template") templated = true;
            if (x == "static") internal = true;
        }
        if (templated || !internal) continue;
        const std::string& next = t[at[0] + 1].text;
        if (next == "(") add("&" + n);
        else if (next == "=" || next == "{" || next == "[" || next == ";") add(n);
    }
    return names;
}

// ---- Files -----------------------------------------------------------------

struct SourceFile {
    std::string path; // relative to the tree's root, with / separators
    std::vector<std::string> lines;
    std::vector<Region> regions;
};

// The .gitignore patterns that matter here: a name, a glob with *, anchored
// with a leading /, a folder with a trailing /.
struct Ignore {
    std::vector<std::string> patterns;
    static bool glob(const char* p, const char* s) {
        if (*p == 0) return *s == 0;
        if (*p == '*') return glob(p + 1, s) || (*s && *s != '/' && glob(p, s + 1));
        return *s && (*p == '?' ? *s != '/' : *p == *s) && glob(p + 1, s + 1);
    }
    bool ignored(const std::string& rel, bool directory) const {
        for (std::string p : patterns) {
            const bool dir_only = !p.empty() && p.back() == '/';
            if (dir_only) p.pop_back();
            if (dir_only && !directory) continue;
            if (!p.empty() && p[0] == '/') {
                if (glob(p.c_str() + 1, rel.c_str())) return true;
            } else {
                const std::string base = rel.substr(rel.find_last_of('/') + 1);
                if (glob(p.c_str(), base.c_str()) || glob(p.c_str(), rel.c_str())) return true;
            }
        }
        return false;
    }
};

// Every file of the tree a student gets: all but .git, .build, and what the
// root's .gitignore ignores (the binary, decompressed data), in name order.
std::vector<std::string> tree_files(const fs::path& root, const fs::path& skip) {
    Ignore ignore;
    if (fs::exists(root / ".gitignore"))
        for (const std::string& l : split_lines(read_file(root / ".gitignore"))) {
            const std::string p = trim(l);
            if (!p.empty() && p[0] != '#' && p[0] != '!') ignore.patterns.push_back(p);
        }
    std::vector<std::string> files;
    std::error_code ec;
    const fs::path skip_abs = skip.empty() ? fs::path() : fs::weakly_canonical(skip, ec);
    for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator(); ++it) {
        const std::string rel = fs::relative(it->path(), root).generic_string();
        const bool directory = it->is_directory();
        if (rel == ".git" || rel == ".build" || ignore.ignored(rel, directory) ||
            (!skip_abs.empty() && fs::weakly_canonical(it->path(), ec) == skip_abs)) {
            if (directory) it.disable_recursion_pending();
            continue;
        }
        if (it->is_regular_file()) files.push_back(rel);
    }
    std::sort(files.begin(), files.end());
    return files;
}

std::vector<SourceFile> read_sources(const fs::path& root, const std::vector<std::string>& files) {
    std::vector<SourceFile> out;
    std::map<std::pair<int, std::string>, std::string> seen;
    for (const std::string& rel : files) {
        if (!is_cpp(rel)) continue;
        SourceFile f{rel, split_lines(read_file(root / rel)), {}};
        f.regions = find_regions(f.lines, rel);
        for (const Region& r : f.regions) {
            const std::string here = rel + ":" + std::to_string(r.begin + 1);
            auto [at, fresh] = seen.insert({{r.lesson, r.label}, here});
            if (!fresh) throw Failure(here + ": Lesson " + std::to_string(r.lesson) + " already has a region '" + r.label + "' (" + at->second + "); labels name what the student writes, once");
        }
        out.push_back(std::move(f));
    }
    return out;
}

std::string two_digits(int n) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "%02d", n);
    return buf;
}

std::string c_string(const std::string& s) {
    std::string out;
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out;
}

// The file with the regions of every lesson not in `keep` replaced by stubs.
std::string stub_file(const SourceFile& f, const std::set<int>& keep) {
    const std::string text = join_lines(f.lines);
    const std::vector<Token> t = tokenize(text);
    std::vector<size_t> closing(t.size(), 0), stack;
    for (size_t k = 0; k < t.size(); k++) {
        if (t[k].text == "{") stack.push_back(k);
        if (t[k].text == "}" && !stack.empty()) closing[stack.back()] = k, stack.pop_back();
    }
    std::vector<bool> removed(t.size(), false);
    std::vector<const Region*> stubbed;
    for (const Region& r : f.regions)
        if (!keep.count(r.lesson)) stubbed.push_back(&r);
    for (size_t k = 0; k < t.size(); k++)
        for (const Region* r : stubbed) removed[k] = removed[k] || (t[k].line > r->begin && t[k].line < r->end);
    std::vector<std::string> out;
    const std::string file = f.path.substr(f.path.find_last_of('/') + 1);
    size_t next = 0;
    for (const Region* r : stubbed) {
        for (; next <= r->begin; next++) out.push_back(f.lines[next]);
        const std::string indent = f.lines[r->begin].substr(0, f.lines[r->begin].find_first_not_of(" \t"));
        const std::vector<std::string> names = unused_names(t, removed, closing, *r);
        if (!names.empty()) {
            std::string uses = indent;
            for (size_t i = 0; i < names.size(); i++) uses += (i ? ", (void)" : "(void)") + names[i];
            out.push_back(uses + ";");
        }
        out.push_back(indent + "throw tt::Error(\"not implemented yet: Lesson " + two_digits(r->lesson) + ", " +
                      c_string(r->label) + " (" + file + ":" + std::to_string(out.size() + 1) + ")\");");
        next = r->end;
    }
    for (; next < f.lines.size(); next++) out.push_back(f.lines[next]);
    return join_lines(out);
}

// A line of code without its // comment (a // inside a string is kept).
std::string code_of(const std::string& line) {
    char quote = 0;
    for (size_t i = 0; i < line.size(); i++) {
        const char c = line[i];
        if (quote) {
            if (c == '\\') i++;
            else if (c == quote) quote = 0;
        } else if (c == '"' || c == '\'') {
            quote = c;
        } else if (c == '/' && i + 1 < line.size() && line[i + 1] == '/') {
            return line.substr(0, i);
        }
    }
    return line;
}

// Lines of the removed solutions that no code the student gets contains: if
// one turns up anywhere in the new tree (a chapter quoting it, a comment), a
// solution leaked. Short lines (`}`, `return y;`) say nothing and are skipped.
std::vector<std::string> distinctive_lines(const std::vector<SourceFile>& sources, const std::set<int>& keep) {
    std::vector<std::string> solution, given;
    for (const SourceFile& f : sources)
        for (size_t i = 0; i < f.lines.size(); i++) {
            bool inside = false, marker = false;
            for (const Region& r : f.regions) {
                if (keep.count(r.lesson)) continue;
                inside = inside || (i > r.begin && i < r.end);
                marker = marker || i == r.begin || i == r.end;
            }
            const std::string l = trim(code_of(f.lines[i])); // (a region's comments may repeat one outside it)
            if (inside && l.size() >= 24) solution.push_back(l);
            if (!inside && !marker) given.push_back(code_of(f.lines[i]));
        }
    std::vector<std::string> out;
    for (const std::string& l : solution) {
        bool elsewhere = false;
        for (const std::string& g : given)
            if (g.find(l) != std::string::npos) { elsewhere = true; break; }
        if (!elsewhere && std::find(out.begin(), out.end(), l) == out.end()) out.push_back(l);
    }
    return out;
}

// ---- Commands --------------------------------------------------------------

const char* kStudentNote =
    "> **This is a student tree**, made by `make student` from tt. Every part of tt.c++ marked\n"
    "> `// BEGIN SOLUTION Lesson NN: ...` is yours to write: for now it throws \"not implemented yet\".\n"
    "> Each chapter's \"Your turn\" lists what you write in that lesson, in order; `./tt grade N`\n"
    "> (or `make grade LESSON=N`) runs lesson N's tests on your code and says what passes.\n";

int make_tree(const fs::path& src, const fs::path& dst, const std::set<int>& keep) {
    std::error_code ec;
    if (fs::exists(dst) && !(fs::is_directory(dst) && fs::is_empty(dst, ec)))
        throw Failure(dst.string() + " exists and is not empty: it may hold a student's work. Remove it or choose another STUDENT=");
    const std::vector<std::string> files = tree_files(src, dst);
    const std::vector<SourceFile> sources = read_sources(src, files);
    int stubs = 0, kept = 0;
    fs::create_directories(dst);
    for (const std::string& rel : files) {
        const SourceFile* f = nullptr;
        for (const SourceFile& s : sources)
            if (s.path == rel) f = &s;
        if (f && !f->regions.empty()) {
            write_file(dst / rel, stub_file(*f, keep));
            for (const Region& r : f->regions) (keep.count(r.lesson) ? kept : stubs)++;
        } else if (rel == "README.md") {
            std::vector<std::string> lines = split_lines(read_file(src / rel));
            lines.insert(lines.begin() + (lines.empty() ? 0 : 1), {"", kStudentNote});
            write_file(dst / rel, join_lines(lines));
        } else {
            fs::create_directories((dst / rel).parent_path());
            fs::copy_file(src / rel, dst / rel, fs::copy_options::overwrite_existing);
        }
        fs::permissions(dst / rel, fs::status(src / rel).permissions());
    }
    // No solution left behind: every distinctive line of a removed region is
    // looked for in every text file of the new tree.
    const std::vector<std::string> solution = distinctive_lines(sources, keep);
    int leaks = 0;
    for (const std::string& rel : files) {
        const std::string text = read_file(dst / rel);
        if (text.find('\0') != std::string::npos) continue;
        const std::vector<std::string> lines = split_lines(text);
        for (size_t i = 0; i < lines.size(); i++)
            for (const std::string& s : solution)
                if (lines[i].find(s) != std::string::npos) {
                    std::fprintf(stderr, "student: %s:%zu holds a line of a removed solution: %s\n", rel.c_str(), i + 1, s.c_str());
                    leaks++;
                }
    }
    if (leaks) throw Failure(std::to_string(leaks) + " solution lines leaked into " + dst.string());
    std::printf("student: wrote %s: %zu files, %d regions stubbed, %d kept (lessons", dst.string().c_str(), files.size(), stubs, kept);
    for (int n : keep) std::printf(" %d", n);
    std::printf("%s); no solution line left in it\n", keep.empty() ? " none" : "");
    return 0;
}

int restore(const fs::path& dst, const fs::path& src, const std::set<int>& lessons) {
    const std::vector<SourceFile> solution = read_sources(src, tree_files(src, fs::path()));
    int restored = 0;
    for (const SourceFile& s : solution) {
        bool wanted = false;
        for (const Region& r : s.regions) wanted = wanted || lessons.count(r.lesson);
        if (!wanted) continue;
        if (!fs::exists(dst / s.path)) throw Failure((dst / s.path).string() + " is missing");
        const std::vector<std::string> mine = split_lines(read_file(dst / s.path));
        const std::vector<Region> my_regions = find_regions(mine, s.path);
        std::vector<std::string> out;
        size_t next = 0;
        for (const Region& r : my_regions) {
            if (!lessons.count(r.lesson)) continue;
            const Region* from = nullptr;
            for (const Region& x : s.regions)
                if (x.lesson == r.lesson && x.label == r.label) from = &x;
            if (!from) throw Failure(s.path + ":" + std::to_string(r.begin + 1) + ": " + src.string() + " has no region '" + r.label + "' of Lesson " + std::to_string(r.lesson));
            for (; next <= r.begin; next++) out.push_back(mine[next]);
            for (size_t k = from->begin + 1; k < from->end; k++) out.push_back(s.lines[k]);
            next = r.end;
            restored++;
        }
        for (const Region& x : s.regions) {
            if (!lessons.count(x.lesson)) continue;
            bool found = false;
            for (const Region& r : my_regions) found = found || (r.lesson == x.lesson && r.label == x.label);
            if (!found) throw Failure((dst / s.path).string() + " has no region '" + x.label + "' of Lesson " + std::to_string(x.lesson) + " (were its markers removed?)");
        }
        for (; next < mine.size(); next++) out.push_back(mine[next]);
        const std::string text = join_lines(out);
        if (text != join_lines(mine)) write_file(dst / s.path, text); // unchanged files keep their time: make rebuilds less
    }
    std::printf("student: restored %d regions in %s from %s\n", restored, dst.string().c_str(), src.string().c_str());
    return 0;
}

int list(const fs::path& src) {
    for (const SourceFile& f : read_sources(src, tree_files(src, fs::path())))
        for (const Region& r : f.regions)
            std::printf("Lesson %s  %-60s %s:%zu\n", two_digits(r.lesson).c_str(), r.label.c_str(), f.path.c_str(), r.begin + 1);
    return 0;
}

// The rules a tree's lessons follow (run by CI): the markers (read_sources
// checks them); each lesson with regions has graded tests and, in its
// chapter, a "## Your turn" section that names every region's label and the
// command that grades it; each milestone's tests say which lesson grades them.
int check(const fs::path& src) {
    const std::vector<std::string> files = tree_files(src, fs::path());
    const std::vector<SourceFile> sources = read_sources(src, files);
    std::map<int, std::vector<std::string>> labels;
    for (const SourceFile& f : sources)
        for (const Region& r : f.regions) labels[r.lesson].push_back(r.label);
    std::vector<std::string> problems;
    for (const auto& [lesson, names] : labels) {
        const std::string prefix = two_digits(lesson) + "-";
        std::string chapter;
        bool tests = false;
        for (const std::string& rel : files) {
            if (rel.rfind("lessons/" + prefix, 0) == 0 && rel.size() > 3 && rel.compare(rel.size() - 3, 3, ".md") == 0) chapter = rel;
            if (rel.rfind("tests/" + prefix, 0) == 0 && is_cpp(rel)) tests = true;
        }
        const std::string lesson_name = "Lesson " + two_digits(lesson);
        if (!tests) problems.push_back(lesson_name + " has solution regions but no tests/" + prefix + "*.c++ to grade them");
        if (chapter.empty()) { problems.push_back(lesson_name + " has solution regions but no chapter lessons/" + prefix + "*.md"); continue; }
        const std::string text = read_file(src / chapter);
        const size_t at = text.find("\n## Your turn");
        if (at == std::string::npos) { problems.push_back(chapter + ": no \"## Your turn\" section"); continue; }
        const size_t end = text.find("\n## ", at + 1);
        const std::string section = text.substr(at, end == std::string::npos ? std::string::npos : end - at);
        if (section.find("./tt grade " + std::to_string(lesson)) == std::string::npos)
            problems.push_back(chapter + ": \"Your turn\" does not give the command `./tt grade " + std::to_string(lesson) + "`");
        for (const std::string& l : names)
            if (section.find(l) == std::string::npos) problems.push_back(chapter + ": \"Your turn\" does not name '" + l + "'");
    }
    for (const std::string& rel : files)
        if (rel.rfind("tests/milestone-", 0) == 0 && is_cpp(rel) && read_file(src / rel).find("GRADED_WITH_LESSON(") == std::string::npos)
            problems.push_back(rel + ": a milestone's tests say which lesson grades them: GRADED_WITH_LESSON(N)");
    for (const std::string& p : problems) std::fprintf(stderr, "student check: %s\n", p.c_str());
    if (!problems.empty()) return 1;
    size_t regions = 0;
    for (const auto& [lesson, names] : labels) regions += names.size();
    std::printf("student check: %zu regions in %zu lessons; markers, tests and \"Your turn\" sections in order\n", regions, labels.size());
    return 0;
}

int usage() {
    std::fprintf(stderr,
                 "usage: student make SRC DST [--lessons 1-5]   a student tree of SRC at DST (lessons listed keep their solutions)\n"
                 "       student restore DST SRC LESSONS        put SRC's solutions of LESSONS (6, 1-5) back into DST\n"
                 "       student check SRC                      the markers' rules and each chapter's \"Your turn\"\n"
                 "       student list SRC                       every solution region\n");
    return 2;
}

} // namespace

int main(int argc, char** argv) {
    const std::vector<std::string> a(argv + 1, argv + argc);
    try {
        if (a.size() >= 3 && a[0] == "make") {
            std::set<int> keep;
            if (a.size() == 5 && a[3] == "--lessons") keep = parse_lessons(a[4]);
            else if (a.size() != 3) return usage();
            return make_tree(a[1], a[2], keep);
        }
        if (a.size() == 4 && a[0] == "restore") return restore(a[1], a[2], parse_lessons(a[3]));
        if (a.size() == 2 && a[0] == "check") return check(a[1]);
        if (a.size() == 2 && a[0] == "list") return list(a[1]);
        return usage();
    } catch (const Failure& e) {
        std::fprintf(stderr, "student: %s\n", e.what());
        return 1;
    } catch (const fs::filesystem_error& e) {
        std::fprintf(stderr, "student: %s\n", e.what());
        return 1;
    }
}
