import dagster as dg

from dlp_assets import definitions


def test_definitions_load_and_resolve():
    dg.Definitions.validate_loadable(definitions.defs)
    repo = definitions.defs.get_repository_def()
    keys = {k.to_user_string() for k in repo.asset_graph.get_all_asset_keys()}
    assert {"synthetic_examples", "landed_examples", "examples"} <= keys


def test_demo_job_leaves_out_the_api_key_asset():
    job = definitions.defs.resolve_job_def("demo")
    selected = {k.to_user_string() for k in job.asset_layer.executable_asset_keys}
    assert "agentic_examples" not in selected
    assert "examples" in selected
