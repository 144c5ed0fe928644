Attribute VB_Name = "PanelButtons"
' xlplan buttons for a workbook of the coordinator's own: one Sub per form button.
' Each Sub calls xlwings' RunPython (xlwings add-in, or its module xlwings.bas in the
' same workbook) with an entry point of xlplan.excel; the workbook needs the defined
' names of the panel (xlplan_master, xlplan_message, ...). The panel made by
' "xlplan panel" does not carry this module: its buttons all run xlwings' compiled
' SampleCall, and xlplan.excel.main() finds the button. Keep this file ASCII with CRLF.
Option Explicit

' Generate the department workbooks from the plan master.
Public Sub GenerateWorkbooks()
    RunPython "import xlplan.excel; xlplan.excel.generate()"
End Sub

' Collect the returned workbooks and check them.
Public Sub CollectAndCheck()
    RunPython "import xlplan.excel; xlplan.excel.collect()"
End Sub

' Write the merged workbook from the archive.
Public Sub MergeResults()
    RunPython "import xlplan.excel; xlplan.excel.merge()"
End Sub

' Write return copies for the departments with findings.
Public Sub WriteFeedback()
    RunPython "import xlplan.excel; xlplan.excel.feedback()"
End Sub

' Check one returned workbook chosen by the coordinator.
Public Sub CheckOneFile()
    RunPython "import xlplan.excel; xlplan.excel.check_one()"
End Sub

' Generate the committee members' scoring forms.
Public Sub GenerateScoringForms()
    RunPython "import xlplan.excel; xlplan.excel.generate_scoring()"
End Sub
