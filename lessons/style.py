"""The app's look: one theme and a little CSS, passed to launch() (Gradio 6 takes them there)."""
import gradio as gr

THEME = gr.themes.Soft(primary_hue="indigo", secondary_hue="amber", neutral_hue="slate")

CSS = """
.lesson-text .prose { max-width: 60em; }
.try-this { border-left: 3px solid var(--color-accent); padding-left: .75em; }
.lab-coming { opacity: .9; }
.token-view { line-height: 2.1; font-family: var(--font-mono); white-space: pre-wrap; word-break: break-all; }
.token-view .tok { border-radius: 3px; padding: 1px 1px; margin: 0 1px 0 0; }
.token-view .tok .ws { opacity: .55; }
.predict { padding: .4em .6em; border-left: 3px solid var(--color-accent-soft, #c7d2fe); }
.predict-feedback:empty { display: none; }
#environment-line { font-size: .85em; opacity: .75; }
/* On a phone (~400 px) a wide formula or table scrolls sideways instead of being cut off, and a
   table cell breaks only between words, never inside one (every tab's Markdown). */
.prose .katex-display { overflow-x: auto; overflow-y: hidden; max-width: 100%; padding: 2px 0; }
.prose table { display: block; width: max-content; max-width: 100%; overflow-x: auto; }
.prose th, .prose td { word-break: normal; overflow-wrap: normal; hyphens: none; }
"""
