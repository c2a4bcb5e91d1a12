"""The mono checker: is a photo eligible for a monochrome category, by the competition rules, and if not, where is
the colour that makes it a colour work.

    checked = check.check_file(path, rules="fiap")   # Analysis (verdict, reasons, tone, numbers, regions) + maps
    overlays.write(checked, key)                       # chroma heatmap and residual map, in the cache dir

``thresholds`` holds every number it decides with; ``words`` the measured colour words the narrator uses. This
module imports nothing, so ``imageworks.jobs.records`` can import ``mono.result`` without numpy.
"""
