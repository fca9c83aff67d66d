// lessons/report.c++ — the report page: what `./tt milestone YEAR --html FILE`
// and `./tt milestones --html FILE` write. One self-contained HTML file: the
// platform, a summary table of every part, then each milestone's parts with
// their metrics, tables, figures (inline SVG) and samples. Nothing in it is
// fetched (no script, no stylesheet, font or image from elsewhere, no URL at
// all), so it opens the same offline, years later, and a CI browser can
// render it without a network. Cost: the page is built in memory, a few
// hundred KB for the tour (each figure's SVG is tens of KB).
#include <cmath>
#include <cstdio>
#include <ctime>
#include <fstream>

#include "lessons.h"

namespace lessons {

namespace {
// Ids hold letters, digits and '-' only, so that href="#id" needs no escaping.
std::string id_part(const std::string& text) {
    std::string out;
    for (char c : text)
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) out += c;
        else if (!out.empty() && out.back() != '-') out += '-';
    while (!out.empty() && out.back() == '-') out.pop_back();
    return out.empty() ? "x" : out;
}

// Metrics as the tables show them: whole numbers exactly, large ones without
// a fraction, the rest to 4 significant digits; NaN and infinity as text.
std::string number_text(double v) {
    char buf[40];
    if (std::isnan(v)) return "NaN";
    if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
    if ((v == std::floor(v) && std::fabs(v) < 1e15) || std::fabs(v) >= 1000) std::snprintf(buf, sizeof buf, "%.0f", v);
    else std::snprintf(buf, sizeof buf, "%.4g", v);
    return buf;
}

std::string seconds_text(double s) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f s", s);
    return buf;
}

const char* verdict(const Result& r) { return r.skipped ? "skipped" : r.pass ? "pass" : "fail"; }
std::string verdict_cell(const char* v) {
    return std::string("<td class='") + v + "'>" + (v[0] == 'p' ? "PASS" : v[0] == 'f' ? "FAIL" : "SKIPPED") + "</td>";
}

std::string row(const std::vector<std::string>& cells, const char* tag = "td") {
    std::string out = "<tr>";
    for (const std::string& c : cells) out += std::string("<") + tag + ">" + html_escape(c) + "</" + tag + ">";
    return out + "</tr>\n";
}

// A figure's SVG as it goes inline: one <svg> element, checked, without the
// XML namespace declaration (HTML gives <svg> its namespace itself, and the
// page then holds no URL of any kind) and without an XML prolog.
std::string inline_svg(const Figure& f, const std::string& where) {
    std::string svg = utf8_text(f.svg); // a label its writer did not clean cannot break the page's encoding
    const size_t first = svg.find_first_not_of(" \t\r\n");
    if (first != std::string::npos && svg.compare(first, 5, "<?xml") == 0) svg.erase(0, svg.find("?>", first) + 2);
    const size_t start = svg.find_first_not_of(" \t\r\n"), end = svg.find_last_not_of(" \t\r\n");
    if (start == std::string::npos || svg.compare(start, 4, "<svg") != 0 || end < 5 || svg.compare(end - 5, 6, "</svg>") != 0)
        throw tt::Error("html_report: figure '" + f.title + "' of " + where + " is not one <svg ...>...</svg> element");
    svg = svg.substr(start, end + 1 - start);
    for (const char* ns : {" xmlns='http://www.w3.org/2000/svg'", " xmlns=\"http://www.w3.org/2000/svg\"",
                           " xmlns:xlink='http://www.w3.org/1999/xlink'", " xmlns:xlink=\"http://www.w3.org/1999/xlink\""}) {
        const size_t at = svg.find(ns);
        if (at != std::string::npos && at < svg.find('>')) svg.erase(at, std::string(ns).size());
    }
    return svg;
}

const char* style =
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'Helvetica Neue',Arial,sans-serif;margin:2em auto;"
    "max-width:960px;padding:0 1em;color:#222;line-height:1.4}\n"
    "h1{font-size:1.7em}h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}h3{margin-top:1.6em}\n"
    "table{border-collapse:collapse;margin:.8em 0;font-size:.9em}caption{text-align:left;font-weight:600;padding:.3em 0;white-space:nowrap}\n"
    "th,td{border:1px solid #ddd;padding:.25em .6em;text-align:left;vertical-align:top}th{background:#f4f4f4}\n"
    "td.pass{background:#e3f4e1;color:#175d12;font-weight:600}td.fail{background:#fbe0de;color:#8c1c13;font-weight:600}\n"
    "td.skipped{background:#eee;color:#666}\n"
    "figure{margin:1em 0}figure svg{max-width:100%;height:auto;border:1px solid #eee}figcaption{font-size:.9em;color:#555}\n"
    "pre{background:#f7f7f7;border:1px solid #e4e4e4;padding:.6em;white-space:pre-wrap;font-size:.85em}\n"
    ".meta{color:#555;font-size:.9em}nav ol{margin:.2em 0}\n";
} // namespace

std::string html_report(const std::string& title, const std::vector<MilestoneRun>& runs, const tt::Platform& platform) {
    // Every id first, so the contents can link to what follows.
    struct Ids {
        std::string milestone;
        std::vector<std::string> parts;
    };
    std::vector<Ids> ids;
    for (size_t m = 0; m < runs.size(); m++) {
        Ids i;
        i.milestone = "m" + std::to_string(m + 1) + "-" + id_part(runs[m].milestone);
        for (size_t p = 0; p < runs[m].parts.size(); p++) i.parts.push_back(i.milestone + "-p" + std::to_string(p + 1));
        ids.push_back(i);
    }
    int64_t passed = 0, failed = 0, skipped = 0;
    double seconds = 0;
    for (const MilestoneRun& run : runs) {
        seconds += run.seconds;
        for (const Result& r : run.parts) (r.skipped ? skipped : r.pass ? passed : failed)++;
    }

    std::string page = "<!DOCTYPE html>\n<html lang='en'>\n<head>\n<meta charset='utf-8'>\n"
                       "<meta name='viewport' content='width=device-width, initial-scale=1'>\n<title>" +
                       html_escape(title) + "</title>\n<style>\n" + style + "</style>\n</head>\n<body>\n";
    page += "<h1>" + html_escape(title) + "</h1>\n";
    char when[64] = "";
    const std::time_t now = std::time(nullptr);
    if (const std::tm* utc = std::gmtime(&now)) std::strftime(when, sizeof when, "%Y-%m-%d %H:%M UTC", utc);
    auto count = [](int64_t n, const char* what) { return std::to_string(n) + " " + what + (n == 1 ? "" : "s"); };
    page += "<p class='meta'>" + count((int64_t)runs.size(), "milestone") + ", " + count(passed + failed + skipped, "part") + ": " +
            std::to_string(passed) + " passed, " + std::to_string(failed) + " failed, " + std::to_string(skipped) +
            " skipped; " + seconds_text(seconds) + ". Written " + when + " by tt on " + html_escape(platform.cpu) + ".</p>\n";

    // Contents: the sections, then every figure, table and sample by title.
    page += "<nav id='contents'>\n<h2>Contents</h2>\n<ol>\n<li><a href='#platform'>Platform</a></li>\n"
            "<li><a href='#summary'>Summary</a></li>\n";
    for (size_t m = 0; m < runs.size(); m++) {
        page += "<li><a href='#" + ids[m].milestone + "'>Milestone " + html_escape(runs[m].milestone) + " · " +
                html_escape(runs[m].name) + "</a>\n<ol>\n";
        for (size_t p = 0; p < runs[m].parts.size(); p++) {
            const Result& r = runs[m].parts[p];
            page += "<li><a href='#" + ids[m].parts[p] + "'>" + html_escape(r.part) + "</a>";
            if (!r.figures.empty() || !r.tables.empty() || !r.samples.empty()) {
                page += "\n<ul>\n";
                for (size_t k = 0; k < r.figures.size(); k++)
                    page += "<li>figure: <a class='figure' href='#" + ids[m].parts[p] + "-f" + std::to_string(k + 1) + "'>" +
                            html_escape(r.figures[k].title) + "</a></li>\n";
                for (size_t k = 0; k < r.tables.size(); k++)
                    page += "<li>table: <a href='#" + ids[m].parts[p] + "-t" + std::to_string(k + 1) + "'>" +
                            html_escape(r.tables[k].title) + "</a></li>\n";
                for (size_t k = 0; k < r.samples.size(); k++)
                    page += "<li>sample: <a href='#" + ids[m].parts[p] + "-s" + std::to_string(k + 1) + "'>" +
                            html_escape(r.samples[k].title) + "</a></li>\n";
                page += "</ul>\n";
            }
            page += "</li>\n";
        }
        page += "</ol>\n</li>\n";
    }
    page += "</ol>\n</nav>\n";

    page += "<section id='platform'>\n<h2>Platform</h2>\n<table>\n";
    for (const auto& [key, value] : std::vector<std::pair<const char*, std::string>>{
             {"CPU", platform.cpu}, {"hardware threads", std::to_string(platform.cores)},
             {"tt's threads", std::to_string(platform.threads)}, {"architecture", platform.arch},
             {"compiler", platform.compiler}, {"flags", platform.flags}, {"build", platform.build},
             {"gemm kernel", platform.gemm_isa}, {"commit", platform.commit}})
        page += row({key, value});
    page += "</table>\n</section>\n";

    page += "<section id='summary'>\n<h2>Summary</h2>\n<table>\n<thead>\n" +
            row({"milestone", "part", "verdict", "key metrics", "gate", "seconds", "peak memory"}, "th") + "</thead>\n<tbody>\n";
    for (size_t m = 0; m < runs.size(); m++)
        for (size_t p = 0; p < runs[m].parts.size(); p++) {
            const Result& r = runs[m].parts[p];
            std::string metrics;
            for (size_t k = 0; k < r.metrics.size() && k < 3; k++)
                metrics += (k ? ", " : "") + r.metrics[k].first + " " + number_text(r.metrics[k].second);
            page += "<tr><td>" + html_escape(runs[m].milestone) + "</td><td><a href='#" + ids[m].parts[p] + "'>" +
                    html_escape(r.part) + "</a></td>" + verdict_cell(verdict(r)) + "<td>" + html_escape(metrics) + "</td><td>" +
                    html_escape(r.gate) + "</td><td>" + (r.skipped ? "" : seconds_text(r.seconds)) + "</td><td>" +
                    (r.skipped ? "" : bytes_str(r.peak_bytes)) + "</td></tr>\n";
        }
    page += "</tbody>\n</table>\n</section>\n";

    for (size_t m = 0; m < runs.size(); m++) {
        const MilestoneRun& run = runs[m];
        page += "<section id='" + ids[m].milestone + "'>\n<h2>Milestone " + html_escape(run.milestone) + " · " +
                html_escape(run.name) + "</h2>\n";
        page += std::string("<p class='meta'>") + (run.pass() ? "PASS" : "FAIL") + ": every part that ran " +
                (run.pass() ? "passed" : "did not pass") + "; " + seconds_text(run.seconds) + ", tracker peak " +
                bytes_str(run.peak_bytes()) + ".</p>\n";
        for (size_t p = 0; p < run.parts.size(); p++) {
            const Result& r = run.parts[p];
            const std::string& id = ids[m].parts[p];
            const std::string where = "milestone " + run.milestone + ", part '" + r.part + "'";
            page += "<article id='" + id + "'>\n<h3>" + html_escape(r.part) + "</h3>\n<p class='meta'>" +
                    html_escape(r.dataset) + " · " + html_escape(r.model) +
                    (r.params ? " · " + std::to_string(r.params) + " parameters" : "") + "</p>\n";
            page += "<table>\n<thead>\n" + row({"metric", "value"}, "th") + "</thead>\n<tbody>\n";
            for (const auto& [key, value] : r.metrics) page += row({key, number_text(value)});
            page += "<tr><td>gate: " + html_escape(r.gate) + "</td>" + verdict_cell(verdict(r)) + "</tr>\n";
            if (!r.skipped) page += row({"seconds, tracker peak", seconds_text(r.seconds) + ", " + bytes_str(r.peak_bytes)});
            page += "</tbody>\n</table>\n";
            if (!r.note.empty()) page += "<p>" + html_escape(r.note) + "</p>\n";
            for (size_t k = 0; k < r.tables.size(); k++) {
                const Table& t = r.tables[k];
                page += "<table id='" + id + "-t" + std::to_string(k + 1) + "'>\n<caption>" + html_escape(t.title) +
                        "</caption>\n<thead>\n" + row(t.header, "th") + "</thead>\n<tbody>\n";
                for (const std::vector<std::string>& cells : t.rows) {
                    if (cells.size() != t.header.size())
                        throw tt::Error("html_report: table '" + t.title + "' of " + where + " has a row of " +
                                        std::to_string(cells.size()) + " cells under a header of " +
                                        std::to_string(t.header.size()));
                    page += row(cells);
                }
                page += "</tbody>\n</table>\n";
            }
            for (size_t k = 0; k < r.figures.size(); k++)
                page += "<figure id='" + id + "-f" + std::to_string(k + 1) + "'>\n" + inline_svg(r.figures[k], where) +
                        "\n<figcaption>" + html_escape(r.figures[k].title) + "</figcaption>\n</figure>\n";
            for (size_t k = 0; k < r.samples.size(); k++)
                page += "<div class='sample' id='" + id + "-s" + std::to_string(k + 1) + "'>\n<h4>" +
                        html_escape(r.samples[k].title) + "</h4>\n<pre>" + html_escape(r.samples[k].text) + "</pre>\n</div>\n";
            page += "</article>\n";
        }
        page += "</section>\n";
    }
    return page + "</body>\n</html>\n";
}

void write_html_report(const std::string& path, const std::string& title, const std::vector<MilestoneRun>& runs,
                       const tt::Platform& platform) {
    const std::string page = html_report(title, runs, platform);
    std::ofstream file(path, std::ios::binary);
    file << page;
    file.flush();
    if (!file.good()) throw tt::Error("write_html_report: cannot write '" + path + "'");
}

} // namespace lessons
