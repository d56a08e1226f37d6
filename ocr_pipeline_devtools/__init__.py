"""Development tools shared by the tests, ``scripts/demo.py`` and ``bench/``: local services
(``services``), the Dagster deployment fixture (``dagster_fixtures``), fault-injecting proxies
(``fault_proxy``, ``tcp_proxy``), the fault report, rendered test pages (``engine_pages``) and bad files."""
