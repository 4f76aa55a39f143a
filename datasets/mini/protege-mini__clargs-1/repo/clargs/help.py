"""Render a usage / help screen for a :class:`Parser`."""


def _option_label(opt):
    label = f"--{opt.name}"
    if opt.short:
        label = f"-{opt.short}, {label}"
    if not opt.flag:
        label += f" {opt.metavar}"
    return label


def format_help(parser, width=79):
    """Return the help text for *parser* as a single string."""
    lines = [f"usage: {parser.prog} [options]" + (" ARGS..." if parser.max_positionals != 0 else "")]
    if parser.description:
        lines += ["", parser.description]
    if parser.options:
        lines += ["", "options:"]
        labels = [_option_label(o) for o in parser.options]
        col = min(max(len(lbl) for lbl in labels) + 4, width // 2)
        for opt, label in zip(parser.options, labels):
            text = opt.help
            if opt.default not in (None, False, []) and not opt.flag:
                text = f"{text} (default: {opt.default})".strip()
            if len(label) + 2 >= col:
                lines.append(f"  {label}")
                if text:
                    lines.append(" " * col + text)
            else:
                lines.append(f"  {label}".ljust(col) + text)
    return "\n".join(line.rstrip() for line in lines) + "\n"
