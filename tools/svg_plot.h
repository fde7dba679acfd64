/* Line charts written straight to an SVG file, for the command-line tools
 * (nntrain's training curve, sine's fit): no gnuplot, no shell, so no file
 * name or label ever passes through one. Not part of the library. */
#ifndef NN_SVG_PLOT_H
#define NN_SVG_PLOT_H

#include <stddef.h>

typedef struct svg_series {
    const char *label;    /* legend text (XML-escaped when written) */
    const double *x, *y;  /* n points; non-finite y values break the line */
    size_t n;
    int right_axis;       /* 1: plotted against the right-hand y axis */
    int dashed;           /* 1: dashed line */
    int markers;          /* 1: a dot at every point, no line */
    const char *color;    /* e.g. "#1f77b4" */
} svg_series;

typedef struct svg_chart {
    const char *title, *x_label, *y_label, *y2_label; /* y2_label NULL: no right axis */
    double mark_x;        /* a vertical marker line at this x (NaN: none) */
    const char *mark_label;
} svg_chart;

/* Write the chart to `path`. 0 on success; -1 with errno set when the file
 * cannot be written (the caller reports path and strerror(errno)). The
 * legend sits below the plot area, never over the curves. */
int svg_plot_write(const char *path, const svg_chart *chart, const svg_series *series, size_t count);

#endif
