"""One screen per mode (configure, execute, results, jobs, daemon) plus the help and confirmation modals."""
