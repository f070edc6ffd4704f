"""Small real jobs whose runs the metrics must count."""

import dagster as dg


class Outcome(dg.Config):
    fail: bool = False


@dg.op
def work(config: Outcome) -> None:
    if config.fail:
        raise RuntimeError("this run fails on purpose")


@dg.job(name="monitoring_test_job", tags={"cleanops/pipeline": "monitoring-test"})
def test_job():
    work()


def run(instance, fail: bool = False) -> dg.ExecuteInProcessResult:
    return test_job.execute_in_process(instance=instance, raise_on_error=False,
                                       run_config={"ops": {"work": {"config": {"fail": fail}}}})
