/* SVG line charts (svg_plot.h). */
#include "svg_plot.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>

enum { WIDTH = 800, PLOT_TOP = 48, PLOT_HEIGHT = 330, LEFT = 78, RIGHT = 78, LEGEND_ROW = 22 };

static void put_escaped(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

typedef struct range {
    double lo, hi, step;
} range;

/* Round [lo, hi] out to "nice" tick steps (1, 2 or 5 times a power of 10),
 * about five of them. */
static range nice_range(double lo, double hi)
{
    if (!(lo <= hi)) lo = 0, hi = 1;
    if (hi - lo < 1e-12 * (fabs(hi) + 1)) lo -= 0.5, hi += 0.5;
    const double raw = (hi - lo) / 5, mag = pow(10, floor(log10(raw))), f = raw / mag;
    const double step = (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
    return (range){floor(lo / step) * step, ceil(hi / step) * step, step};
}

static range data_range(const svg_series *s, size_t count, int x_axis, int right)
{
    double lo = INFINITY, hi = -INFINITY;
    for (size_t k = 0; k < count; k++) {
        if (!x_axis && s[k].right_axis != right) continue;
        for (size_t i = 0; i < s[k].n; i++) {
            const double v = x_axis ? s[k].x[i] : s[k].y[i];
            if (isfinite(v) && isfinite(s[k].y[i])) lo = fmin(lo, v), hi = fmax(hi, v);
        }
    }
    return nice_range(lo, hi);
}

static double map(double v, range r, double from, double to) { return from + (v - r.lo) / (r.hi - r.lo) * (to - from); }

static void axis_ticks(FILE *f, range r, int vertical, double at, int right)
{
    for (double v = r.lo; v <= r.hi + r.step / 2; v += r.step) {
        const double t = fabs(v) < r.step * 1e-9 ? 0 : v;
        if (vertical) {
            const double y = map(v, r, PLOT_TOP + PLOT_HEIGHT, PLOT_TOP);
            fprintf(f, "<line x1='%g' y1='%.1f' x2='%g' y2='%.1f' stroke='#999'/>", at, y, at + (right ? 5 : -5), y);
            fprintf(f, "<text x='%g' y='%.1f' text-anchor='%s' dominant-baseline='middle'>%g</text>\n",
                    at + (right ? 8 : -8), y, right ? "start" : "end", t);
            if (!right)
                fprintf(f, "<line x1='%d' y1='%.1f' x2='%d' y2='%.1f' stroke='#eee'/>\n", LEFT, y, WIDTH - RIGHT, y);
        } else {
            const double x = map(v, r, LEFT, WIDTH - RIGHT);
            fprintf(f, "<line x1='%.1f' y1='%g' x2='%.1f' y2='%g' stroke='#999'/>", x, at, x, at + 5);
            fprintf(f, "<text x='%.1f' y='%g' text-anchor='middle'>%g</text>\n", x, at + 18, t);
        }
    }
}

int svg_plot_write(const char *path, const svg_chart *c, const svg_series *s, size_t count)
{
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    const int has_right = c->y2_label != NULL;
    const int legend_rows = (int)((count + 1) / 2) + (isfinite(c->mark_x) ? 1 : 0);
    const int height = PLOT_TOP + PLOT_HEIGHT + 50 + legend_rows * LEGEND_ROW + 10;
    const range rx = data_range(s, count, 1, 0), ry = data_range(s, count, 0, 0);
    const range ry2 = has_right ? data_range(s, count, 0, 1) : ry;
    fprintf(f, "<?xml version='1.0' encoding='UTF-8'?>\n"
               "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' "
               "font-size='12'>\n<rect width='100%%' height='100%%' fill='white'/>\n",
            WIDTH, height);
    fprintf(f, "<text x='%d' y='24' text-anchor='middle' font-size='16'>", WIDTH / 2);
    put_escaped(f, c->title);
    fputs("</text>\n", f);
    axis_ticks(f, ry, 1, LEFT, 0);
    if (has_right) axis_ticks(f, ry2, 1, WIDTH - RIGHT, 1);
    axis_ticks(f, rx, 0, PLOT_TOP + PLOT_HEIGHT, 0);
    fprintf(f, "<rect x='%d' y='%d' width='%d' height='%d' fill='none' stroke='#333'/>\n", LEFT, PLOT_TOP,
            WIDTH - LEFT - RIGHT, PLOT_HEIGHT);
    fprintf(f, "<text x='%d' y='%d' text-anchor='middle'>", (LEFT + WIDTH - RIGHT) / 2, PLOT_TOP + PLOT_HEIGHT + 40);
    put_escaped(f, c->x_label);
    fprintf(f, "</text>\n<text transform='translate(18 %d) rotate(-90)' text-anchor='middle'>", PLOT_TOP + PLOT_HEIGHT / 2);
    put_escaped(f, c->y_label);
    fputs("</text>\n", f);
    if (has_right) {
        fprintf(f, "<text transform='translate(%d %d) rotate(90)' text-anchor='middle'>", WIDTH - 14,
                PLOT_TOP + PLOT_HEIGHT / 2);
        put_escaped(f, c->y2_label);
        fputs("</text>\n", f);
    }
    if (isfinite(c->mark_x)) {
        const double x = map(c->mark_x, rx, LEFT, WIDTH - RIGHT);
        fprintf(f, "<line x1='%.1f' y1='%d' x2='%.1f' y2='%d' stroke='#888' stroke-dasharray='2 3'/>\n", x,
                PLOT_TOP, x, PLOT_TOP + PLOT_HEIGHT);
    }
    for (size_t k = 0; k < count; k++) {
        const range r = s[k].right_axis ? ry2 : ry;
        int open = 0;
        for (size_t i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i])) {
                if (open) fputs("'/>\n", f), open = 0;
                continue;
            }
            const double x = map(s[k].x[i], rx, LEFT, WIDTH - RIGHT), y = map(s[k].y[i], r, PLOT_TOP + PLOT_HEIGHT, PLOT_TOP);
            if (s[k].markers) {
                fprintf(f, "<circle cx='%.1f' cy='%.1f' r='2' fill='%s'/>\n", x, y, s[k].color);
                continue;
            }
            if (!open)
                fprintf(f, "<polyline fill='none' stroke='%s' stroke-width='2'%s points='", s[k].color,
                        s[k].dashed ? " stroke-dasharray='6 4'" : ""),
                    open = 1;
            fprintf(f, "%.1f,%.1f ", x, y);
        }
        if (open) fputs("'/>\n", f);
    }
    /* the legend, below the plot: two entries a row */
    const int legend_top = PLOT_TOP + PLOT_HEIGHT + 62;
    for (size_t k = 0; k < count; k++) {
        const int x = LEFT + (int)(k % 2) * (WIDTH - LEFT - RIGHT) / 2, y = legend_top + (int)(k / 2) * LEGEND_ROW;
        if (s[k].markers)
            fprintf(f, "<circle cx='%d' cy='%d' r='3' fill='%s'/>", x + 14, y, s[k].color);
        else
            fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='%s' stroke-width='2'%s/>", x, y, x + 28, y,
                    s[k].color, s[k].dashed ? " stroke-dasharray='6 4'" : "");
        fprintf(f, "<text x='%d' y='%d' dominant-baseline='middle'>", x + 36, y);
        put_escaped(f, s[k].label);
        if (has_right) fputs(s[k].right_axis ? " (right axis)" : " (left axis)", f);
        fputs("</text>\n", f);
    }
    if (isfinite(c->mark_x)) {
        const int y = legend_top + (int)((count + 1) / 2) * LEGEND_ROW;
        fprintf(f, "<line x1='%d' y1='%d' x2='%d' y2='%d' stroke='#888' stroke-dasharray='2 3'/>", LEFT, y,
                LEFT + 28, y);
        fprintf(f, "<text x='%d' y='%d' dominant-baseline='middle'>", LEFT + 36, y);
        put_escaped(f, c->mark_label);
        fputs("</text>\n", f);
    }
    fputs("</svg>\n", f);
    const int write_error = ferror(f);
    const int saved = errno;
    if (fclose(f) != 0 || write_error) {
        if (write_error) errno = saved ? saved : EIO;
        return -1;
    }
    return 0;
}
