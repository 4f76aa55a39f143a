"""Horizontal alignment of already-wrapped lines."""


def center(line, width, fillchar=" "):
    """Center *line* in *width* columns; extra space goes to the right."""
    gap = width - len(line)
    if gap <= 0:
        return line
    left = gap // 2
    return fillchar * left + line + fillchar * (gap - left)


def justify(line, width):
    """Stretch *line* to exactly *width* by widening the gaps between words.

    Leftover spaces are distributed from the left, the way most word
    processors do it.  Lines with a single word are left-aligned.
    """
    words = line.split()
    if len(words) < 2:
        return line.ljust(width)
    gaps = len(words) - 1
    spaces = width - sum(len(w) for w in words)
    if spaces < gaps:
        return line
    base, extra = divmod(spaces, gaps)
    out = []
    for i, w in enumerate(words[:-1]):
        out.append(w)
        out.append(" " * (base + (1 if i < extra else 0)))
    out.append(words[-1])
    return "".join(out)


def align_lines(lines, width, how="left"):
    """Align every line; ``how`` is ``left``, ``right``, ``center`` or ``justify``.

    With ``justify`` the last line stays left-aligned.
    """
    if how == "left":
        return [ln.ljust(width) for ln in lines]
    if how == "right":
        return [ln.rjust(width) for ln in lines]
    if how == "center":
        return [center(ln, width) for ln in lines]
    if how == "justify":
        body = [justify(ln, width) for ln in lines[:-1]]
        return body + [ln.ljust(width) for ln in lines[-1:]]
    raise ValueError(f"unknown alignment {how!r}")
