"""The lab: what a biomedical engineer runs off the bedside path.

The demo (:mod:`edge.lab.demo`), the virtual HDIL-2 patient (:mod:`edge.lab.patient`)
and the evaluation (:mod:`edge.lab.evaluation`). The live agent never imports these.
"""
