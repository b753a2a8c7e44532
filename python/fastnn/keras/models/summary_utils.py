"""model.summary(): Keras 3's table (Layer (type) | Output Shape | Param #) drawn with box
characters, then the parameter totals with their sizes (4 bytes per float32 scalar, in
B/KB/MB/GB of 1024)."""

from ..layers.layer import shape_str

__all__ = ["print_summary", "readable_memory_size"]


def readable_memory_size(nbytes):
    """``'198.79 KB'``: the size in the largest unit (B, KB, MB, GB, TB, PB; steps of 1024)
    that keeps the number at 1 or more, two decimals."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if nbytes / 1024 < 1:
            return f"{nbytes:.2f} {unit}"
        nbytes /= 1024
    return f"{nbytes:.2f} PB"


def _row(layer):
    name = f"{layer.name} ({type(layer).__name__})"
    try:
        shape = shape_str(layer.output_shape)
    except AttributeError:
        shape = "?"
    params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
    return name, shape, params


def _nbytes(weights):
    return sum(w.numel() * w.element_size() for w in weights)


def print_summary(model, line_length=None, print_fn=None):
    print_fn = print_fn or print
    rows = [_row(layer) for layer in model.layers]
    headers = ("Layer (type)", "Output Shape", "Param #")
    widths = [max([31, len(headers[0])] + [len(r[0]) for r in rows]),
              max([22, len(headers[1])] + [len(r[1]) for r in rows]),
              max([13, len(headers[2])] + [len(r[2]) for r in rows])]
    if line_length and line_length > sum(widths) + 10:
        widths[0] += line_length - (sum(widths) + 10)

    def line(left, mid, right, fill):
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def cells(values, edge):
        a, b, c = values
        return f"{edge} {a.ljust(widths[0])} {edge} {b.ljust(widths[1])} {edge} {c.rjust(widths[2])} {edge}"

    lines = [f'Model: "{model.name}"', line("┏", "┳", "┓", "━"), cells(headers, "┃"), line("┡", "╇", "┩", "━")]
    for k, r in enumerate(rows):
        lines.append(cells(r, "│"))
        lines.append(line("├", "┼", "┤", "─") if k < len(rows) - 1 else line("└", "┴", "┘", "─"))
    if not rows:
        lines.append(line("└", "┴", "┘", "─"))
    built = all(layer.built for layer in model.layers)
    trainable = model.trainable_weights if built else []
    frozen = model.non_trainable_weights if built else []
    # As Keras 3: the total counts the optimizer's variables too (its iteration count, its
    # learning rate unless that is a schedule, its state), once it has built them.
    optimizer = getattr(model, "optimizer", None)
    opt_vars = optimizer.variables if optimizer is not None and optimizer.built else None
    opt_n = sum(a.size for a in opt_vars) if opt_vars is not None else 0
    opt_bytes = sum(a.nbytes for a in opt_vars) if opt_vars is not None else 0
    total_n = sum(w.numel() for w in trainable) + sum(w.numel() for w in frozen) + opt_n
    lines.append(f" Total params: {total_n:,} "
                 f"({readable_memory_size(_nbytes(trainable) + _nbytes(frozen) + opt_bytes)})")
    lines.append(f" Trainable params: {sum(w.numel() for w in trainable):,} "
                 f"({readable_memory_size(_nbytes(trainable))})")
    lines.append(f" Non-trainable params: {sum(w.numel() for w in frozen):,} "
                 f"({readable_memory_size(_nbytes(frozen))})")
    if opt_vars is not None:
        lines.append(f" Optimizer params: {opt_n:,} ({readable_memory_size(opt_bytes)})")
    for text in lines:
        print_fn(text)
