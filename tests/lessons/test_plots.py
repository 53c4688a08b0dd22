"""lessons/plots.py: one look for both kinds of chart."""
import plotly.graph_objects as go

from lessons import plots


def test_the_shared_template_is_what_plotly_makes_of_it():
    """TEMPLATE is written as plain data (no plotly objects at start-up); plotly's own Template must read it
    back unchanged, so no property is misspelt or silently dropped."""
    assert go.layout.Template(plots.TEMPLATE).to_plotly_json() == plots.TEMPLATE


def test_a_figure_and_a_chart_share_the_look():
    fig = plots.figure("Loss", "step", "loss")
    chart = plots.chart("Loss", "step", "loss").to_figure()
    assert fig.layout.template == chart.layout.template
    assert fig.layout.template.layout.colorway == tuple(plots.PALETTE)
    assert (fig.layout.title.text, fig.layout.xaxis.title.text) == (chart.layout.title.text, chart.layout.xaxis.title.text)
