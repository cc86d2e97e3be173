# Helpers the golden scripts share (make_sd3_pixart.py, make_flux.py): rounding a model to the dtype its
# file stores, saving a copy in that dtype, float32 tensors to save, and sections that report instead of stopping.
import copy, traceback
import torch

def rounded(model, dtype, buffers=True):
    # Round what the file will store. Buffers the file does not store (PixArt's sin-cos table) stay exact.
    if buffers:
        model.to(dtype).to(torch.float32)
    else:
        for p in model.parameters():
            p.data = p.data.to(dtype).to(torch.float32)
    return model

def save_as(model, folder, dtype):
    copy.deepcopy(model).to(dtype).save_pretrained(folder)  # a copy: the live model keeps its exact buffers

def f32(t):
    return t.detach().to(torch.float32).contiguous().cpu()

def sections(report):
    """section(name, fn): runs fn, records 'ok' or the traceback in report, and goes on either way."""
    def section(name, fn):
        try:
            fn()
            report[name] = 'ok'
            print('ok', name, flush=True)
        except Exception:
            report[name] = traceback.format_exc()
            print('FAILED', name, report[name], flush=True)
    return section
