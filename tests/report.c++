// The report page (lessons/report.c++, `--html FILE`): one self-contained
// HTML file. Checked here on a synthetic run with hostile text: the page is
// well formed, fetches nothing, and every figure the contents name is there
// with its SVG. (Infrastructure: the command line's, not a lesson's.)
#include <algorithm>
#include <set>

#include "test.h"
#include "../lessons/lessons.h"

namespace {
using namespace lessons;

tt::Platform test_platform() {
    tt::Platform p;
    p.cpu = "Test CPU <x86> & \"friends\"";
    p.cores = 2;
    p.threads = 2;
    p.arch = "x86_64";
    p.compiler = "g++ 12";
    p.flags = "-O3 -DX='<y>'";
    p.build = "portable";
    p.gemm_isa = "avx2+fma";
    p.commit = "abc123-dirty";
    return p;
}

const char* hostile = "<script>alert('x')</script> & \"quotes\" 'single' </pre></svg> \x01 caf\xc3\xa9 bad\xff byte";

std::vector<MilestoneRun> synthetic_runs() {
    Result a;
    a.milestone = "1998";
    a.part = std::string("part <one> ") + hostile;
    a.dataset = "digits & more";
    a.model = "CNN \"small\"";
    a.params = 1234;
    a.seconds = 1.5;
    a.peak_bytes = 4096;
    a.metrics = {{"test_accuracy", 0.98767}, {"epochs", 8}, {"nan", std::nan("")}};
    a.gate = "test_accuracy >= 0.9 && <1";
    a.pass = true;
    a.note = hostile;
    tt::History h;
    tt::EpochStats train, test;
    for (int e = 0; e < 4; e++) {
        train.loss = 1.0f / (float)(e + 1), train.accuracy = 0.5f + 0.1f * (float)e;
        test.loss = train.loss * 1.1f, test.accuracy = train.accuracy - 0.05f;
        h.add(train, test);
    }
    a.figures = {{std::string("curves ") + hostile, tt::curves_svg(h, hostile)},
                 {"confusion <3x3>", confusion_svg(hostile, {5, 1, 0, 0, 6, 0, 2, 0, 4}, {"a<b", "c&d", hostile})}};
    a.tables = {{std::string("table ") + hostile, {"k<", "v&"}, {{"<td>", hostile}, {"2", "3"}}}};
    a.samples = {{"sample & text", std::string("To be, or not <to be>:\n  ") + hostile}};
    Result b;
    b.milestone = "1998";
    b.part = "skipped part";
    b.skipped = true;
    b.note = "no data";
    Result c = b;
    c.part = "failed part";
    c.skipped = false;
    c.pass = false;
    c.figures = {{"a roofline", roofline_svg("roof <1>", {{"peak & more", 100, "#c33"}}, 10, {{"gemm<>", 4, 30}, {"relu", 0.1, 1}})},
                 {"a histogram", histogram_svg("hist", {{"w<0>", "#36c", {-1, 0, 0.5f, 1}}}, -1, 1, 8)}};
    MilestoneRun one, two;
    one.milestone = "1998";
    one.name = "CNN <LeNet>";
    one.parts = {a, b, c};
    one.seconds = 3;
    two.milestone = "1958";
    two.name = "Perceptron";
    Result d;
    d.milestone = "1958";
    d.part = "two clusters";
    d.pass = true;
    tt::Tensor x({4, 2}, {0, 0, 0, 1, 1, 0, 1, 1}), y({4}, {0, 1, 1, 0});
    d.figures = {{"xor", decision_svg("xor", x, y, 1, 1, -0.5)}};
    two.parts = {d};
    return {one, two};
}

// The page's elements, checked as XML would be: every element opened is
// closed, in order, except HTML's void elements and "<x .../>" (SVG's);
// every attribute's value is quoted; no raw '<' or '&' outside a tag or an
// entity. Fills `ids` with every id and `svg_in` with the ids of elements
// that hold an <svg>; the hrefs in `hrefs`. Returns "" or what is wrong.
std::string check_well_formed(const std::string& page, std::set<std::string>& ids, std::set<std::string>& svg_in,
                              std::vector<std::pair<std::string, std::string>>& hrefs) {
    const std::set<std::string> void_elements = {"meta", "br", "hr", "img", "link", "input", "col", "wbr"};
    struct Open {
        std::string name, id;
    };
    std::vector<Open> open;
    size_t i = 0;
    if (page.compare(0, 15, "<!DOCTYPE html>") != 0) return "no <!DOCTYPE html> first";
    i = page.find('>') + 1;
    bool in_style = false;
    while (i < page.size()) {
        const char c = page[i];
        if (c == '&') {
            const size_t semi = page.find(';', i);
            if (semi == std::string::npos || semi - i > 8) return "a raw '&' at " + std::to_string(i);
            for (size_t k = i + 1; k < semi; k++)
                if (!std::isalnum((unsigned char)page[k]) && page[k] != '#') return "a raw '&' at " + std::to_string(i);
            i = semi + 1;
            continue;
        }
        if (c != '<') {
            if (c == '>' && !in_style) return "a raw '>' at " + std::to_string(i);
            i++;
            continue;
        }
        const size_t end = page.find('>', i);
        if (end == std::string::npos) return "a tag never closed at " + std::to_string(i);
        if (page[i + 1] == '/') { // </name>
            const std::string name = page.substr(i + 2, end - i - 2);
            if (open.empty() || open.back().name != name)
                return "</" + name + "> closes <" + (open.empty() ? std::string("nothing") : open.back().name) + "> at " +
                       std::to_string(i);
            open.pop_back();
            in_style = false;
            i = end + 1;
            continue;
        }
        if (in_style) return "a tag inside <style>";
        // <name attr='v' ...> or <name .../>
        size_t k = i + 1;
        while (k < end && (std::isalnum((unsigned char)page[k]) || page[k] == '-' || page[k] == ':')) k++;
        const std::string name = page.substr(i + 1, k - i - 1);
        if (name.empty()) return "a raw '<' at " + std::to_string(i);
        std::string id;
        bool self_closed = false;
        while (k < end) {
            if (page[k] == ' ' || page[k] == '\n') { k++; continue; }
            if (page[k] == '/' && k + 1 == end) { self_closed = true; k++; continue; }
            size_t eq = k;
            while (eq < end && page[eq] != '=' && page[eq] != ' ') eq++;
            const std::string attribute = page.substr(k, eq - k);
            if (eq >= end || page[eq] != '=') return "attribute '" + attribute + "' of <" + name + "> has no quoted value";
            const char quote = page[eq + 1];
            if (quote != '\'' && quote != '"') return "attribute '" + attribute + "' of <" + name + "> is not quoted";
            const size_t close = page.find(quote, eq + 2);
            if (close == std::string::npos || close > end) return "attribute '" + attribute + "' of <" + name + "> never ends";
            const std::string value = page.substr(eq + 2, close - eq - 2);
            if (value.find('<') != std::string::npos) return "a raw '<' in attribute '" + attribute + "'";
            if (attribute == "id") {
                if (!ids.insert(value).second) return "the id '" + value + "' twice";
                id = value;
            }
            if (attribute == "href") hrefs.push_back({value, page.substr(end + 1, page.find('<', end) - end - 1)});
            k = close + 1;
        }
        if (name == "svg")
            for (const Open& o : open)
                if (!o.id.empty()) svg_in.insert(o.id);
        if (!self_closed && !void_elements.count(name)) open.push_back({name, id});
        in_style = name == "style";
        i = end + 1;
    }
    if (!open.empty()) return "<" + open.back().name + "> never closed";
    return "";
}
} // namespace

TEST(report_page_is_well_formed_and_self_contained) {
    const std::string page = html_report(std::string("Report ") + hostile, synthetic_runs(), test_platform());
    std::set<std::string> ids, svg_in;
    std::vector<std::pair<std::string, std::string>> hrefs;
    CHECK_EQ(check_well_formed(page, ids, svg_in, hrefs), "");
    // nothing that runs or fetches: no script, no URL at all (the SVGs'
    // namespace declarations are dropped inline), no import, no font
    for (const char* word : {"<script", "http", "@import", "url(", "@font-face", "<link", "src="})
        CHECK(page.find(word) == std::string::npos);
    CHECK(page.find("&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;") != std::string::npos);
    CHECK(page.find("caf\xc3\xa9") != std::string::npos);   // UTF-8 kept
    CHECK(page.find("bad\xef\xbf\xbd byte") != std::string::npos); // a stray byte replaced, not passed on
    CHECK(page.find('\x01') == std::string::npos);
    // every link goes to an id on the page; every figure the contents list holds its SVG
    int figures = 0;
    for (const auto& [href, text] : hrefs) {
        CHECK(href.size() > 1 && href[0] == '#');
        CHECK(ids.count(href.substr(1)) == 1);
    }
    for (size_t at = page.find("class='figure' href='#"); at != std::string::npos; at = page.find("class='figure' href='#", at + 1)) {
        const size_t from = at + 22;
        const std::string id = page.substr(from, page.find('\'', from) - from);
        CHECK(svg_in.count(id) == 1);
        figures++;
    }
    CHECK_EQ(figures, 5);
    CHECK_EQ((int64_t)std::count(page.begin(), page.end(), '\0'), (int64_t)0);
    for (const char* word : {">PASS<", ">FAIL<", ">SKIPPED<", "0.9877", "4.1 KB", "Test CPU &lt;x86&gt;", "<pre>To be, or not &lt;to be&gt;:",
                             "<caption>table ", "Milestone 1958 · Perceptron"})
        CHECK(page.find(word) != std::string::npos);
}

TEST(report_page_errors_name_what_is_wrong) {
    std::vector<MilestoneRun> runs = synthetic_runs();
    test::TempDir dir;
    CHECK_THROWS(write_html_report(dir / "no/such/dir/page.html", "t", runs, test_platform()),
                 "write_html_report: cannot write '" + (dir / "no/such/dir/page.html") + "'");
    write_html_report(dir / "page.html", "t", runs, test_platform());
    CHECK(std::filesystem::file_size(dir / "page.html") > 1000);
    runs[0].parts[0].figures[0].svg = "<png>not svg</png>";
    CHECK_THROWS(html_report("t", runs, test_platform()), "html_report: figure 'curves");
    runs = synthetic_runs();
    runs[0].parts[0].tables[0].rows.push_back({"one cell"});
    CHECK_THROWS(html_report("t", runs, test_platform()), "has a row of 1 cells under a header of 2");
    CHECK_THROWS(confusion_svg("c", {1, 2, 3}, {"a", "b"}), "confusion_svg: 3 counts for 2 classes");
    CHECK_THROWS(confusion_counts({0, 3}, tt::Tensor({2}, {0, 1}), 3), "confusion_counts: class 3 at sample 1");
    CHECK_THROWS(decision_svg("d", tt::Tensor({3}, {1, 2, 3}), tt::Tensor({3}, {0, 1, 0}), 1, 1, 0), "decision_svg: needs x [N,2]");
}
