"""lessons/signatures.py: Gradio's constructors stamped with their own signatures (a start-up saving)."""
import inspect

import gradio as gr

from lessons.signatures import remember_block_signatures


def _names_from_code(function) -> list[str]:
    """The parameter names as the compiled code lists them: positional, *args, keyword-only, **kwargs."""
    code = function.__code__
    count = code.co_argcount + code.co_kwonlyargcount
    count += bool(code.co_flags & inspect.CO_VARARGS) + bool(code.co_flags & inspect.CO_VARKEYWORDS)
    names = list(code.co_varnames[:count])
    if code.co_flags & inspect.CO_VARARGS:  # *args sits after the keyword-only names in co_varnames
        star = names.pop(code.co_argcount + code.co_kwonlyargcount)
        names.insert(code.co_argcount, star)
    return names


def test_every_block_constructor_reports_the_signature_its_code_has():
    remember_block_signatures()
    classes = [gr.Textbox, gr.Slider, gr.Markdown, gr.Plot, gr.Row, gr.Column, gr.Tab, gr.Accordion, gr.State,
               gr.Dropdown, gr.File, gr.Dataframe, gr.Blocks, gr.BrowserState]
    for cls in classes:
        init = cls.__init__
        inner = getattr(init, "__wrapped__", init)
        assert "__signature__" in inner.__dict__, f"{cls.__name__} was not stamped"
        # what Gradio asks: inspect.signature(cls.__init__) and getfullargspec(the wrapped function)
        assert list(inspect.signature(init).parameters) == _names_from_code(inner), cls.__name__
        spec = inspect.getfullargspec(inner)
        assert spec.args + spec.kwonlyargs == [n for n in _names_from_code(inner) if n not in (spec.varargs, spec.varkw)]
        defaults = {n: p.default for n, p in inspect.signature(init).parameters.items() if p.default is not p.empty}
        assert defaults == {**dict(zip(spec.args[len(spec.args) - len(spec.defaults or ()):], spec.defaults or ())),
                            **(inner.__kwdefaults__ or {})}, cls.__name__


def test_stamping_twice_changes_nothing():
    remember_block_signatures()
    before = inspect.signature(gr.Textbox.__init__)
    assert remember_block_signatures() == 0
    assert inspect.signature(gr.Textbox.__init__) is before


def test_a_component_built_after_stamping_keeps_its_arguments():
    remember_block_signatures()
    box = gr.Textbox("hello", label="Name", max_lines=3)
    config = box.get_config()
    assert (config["value"], config["label"], config["max_lines"]) == ("hello", "Name", 3)
